"""``GET /api/search``: posts, people or hashtags matching a query (thin: validate, call the
selector, serialize)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from bellamy.accounts.api.serializers import ErrorSerializer, UserSerializer
from bellamy.db_router import replica_reads
from bellamy.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from posts.api.serializers import PostSerializer
from search import selectors
from search.api.serializers import (
    HashtagResultSerializer,
    HashtagSearchPageSerializer,
    PostSearchPageSerializer,
    SearchQuerySerializer,
    UserSearchPageSerializer,
)
from search.query import HASHTAGS, MAX_TERMS, POSTS, QUERY_MAX_LENGTH, TYPES, USERS
from search.stores.base import RECENCY_HALF_LIFE_DAYS

_RESULTS = {POSTS: PostSerializer, USERS: UserSerializer, HASHTAGS: HashtagResultSerializer}

_DESCRIPTION = f"""Full-text search, one type per request, cursor-paginated like every list.

- `type=posts` (default): posts you may see (as everywhere: friends-only and private posts only
  when allowed, never blocked users' or moderated or deleted posts), best first — relevance
  (words stemmed, accents ignored: `vaccines` finds "vaccinated", `cafe` finds "café") with a
  recency factor (a post {RECENCY_HALF_LIFE_DAYS:g} days older needs twice the relevance). All terms must match:
  words, `"quoted phrases"`, `#hashtag` (posts carrying it), `@username` (posts mentioning them).
  At most {MAX_TERMS} terms.
- `type=users`: people by username or display name — prefix matches first, then similar
  spellings (typo tolerance) — leaving out suspended users and users blocked either way.
- `type=hashtags`: hashtags starting with `q` (`#` optional) used by public posts, most recently
  used first.

`q`: 1–{QUERY_MAX_LENGTH} characters. 400 `{{"q": [...]}}` when it is blank, too long or has
nothing to search for, `{{"type": [...]}}` for an unknown type, `{{"cursor": ["Invalid cursor."]}}`
for a cursor that is malformed or from another search, `{{"limit": [...]}}` outside 1–{MAX_LIMIT}."""


class SearchView(APIView):
    """``GET /api/search?q=&type=posts|users|hashtags&cursor=&limit=``."""

    @extend_schema(
        tags=["search"],
        operation_id="search",
        description=_DESCRIPTION,
        parameters=[
            OpenApiParameter("q", str, required=True, description=f"What to search for, 1–{QUERY_MAX_LENGTH} characters."),
            OpenApiParameter("type", enum=list(TYPES), default=POSTS),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page of the same search."),
            OpenApiParameter("limit", int, description=f"1..{MAX_LIMIT}, default {DEFAULT_LIMIT}."),
        ],
        responses={
            200: PolymorphicProxySerializer(
                component_name="SearchPage",
                # The page says which kind it is: an empty page is then one kind, not all three.
                serializers={"posts": PostSearchPageSerializer, "users": UserSearchPageSerializer,
                             "hashtags": HashtagSearchPageSerializer},
                resource_type_field_name="type",
            ),
            400: OpenApiResponse(description="Bad q, type, cursor or limit: {field: [messages]}."),
            401: OpenApiResponse(ErrorSerializer, description="Missing, invalid or expired token."),
        },
    )
    def get(self, request):
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        with replica_reads(request.user):
            try:
                page = selectors.search(
                    request.user, q=params["q"], type=params["type"], limit=params["limit"],
                    cursor=params.get("cursor"),
                )
            except selectors.InvalidQuery as exc:
                raise ValidationError({"q": [str(exc)]}) from None
            except selectors.InvalidCursor as exc:
                raise ValidationError({"cursor": [str(exc)]}) from None
            results = _RESULTS[params["type"]](page.results, many=True).data
        return Response({"type": params["type"], "results": results, "next_cursor": page.next_cursor})
