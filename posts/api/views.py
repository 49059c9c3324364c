"""Views of the posts API (API.md "Posts"): thin — validate, call one selector or service,
serialize.

Order of checks on every endpoint: authentication (401) → the object is visible to the
caller (404, never revealing that it exists) → the caller may act on it (403) → the body
(400). Visibility comes only from :mod:`posts.selectors`.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from bellamy.accounts.api.serializers import ErrorSerializer
from bellamy.api.pagination import CursorPagination
from posts import selectors, services
from posts.api.serializers import (
    CommentCreateSerializer,
    CommentSerializer,
    PostCreateSerializer,
    PostSerializer,
    PostUpdateSerializer,
    ReportCreateSerializer,
    ReportSerializer,
)
from posts.models import Comment, Post

ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid or expired token."),
    404: OpenApiResponse(ErrorSerializer, description="No such post, or not visible to you."),
}
FORBIDDEN = {403: OpenApiResponse(ErrorSerializer, description="Not allowed on this object.")}
BAD_REQUEST = {400: OpenApiResponse(description="Invalid body: {field: [messages]}.")}


class CommentPagination(CursorPagination):
    """Comments are listed oldest first."""

    ordering = ("created_at", "id")


def _visible_post(request, pk: int) -> Post:
    """The post ``pk`` prepared for serialization, if the caller may see it; else 404."""
    try:
        return selectors.post_for_viewer(request.user, pk)
    except Post.DoesNotExist:
        raise NotFound("No such post.", code="post_not_found") from None


def _visible_post_ref(request, pk: int) -> Post:
    """The post ``pk`` (id, author and visibility only), if the caller may see it; else 404."""
    try:
        return selectors.post_ref_for_viewer(request.user, pk)
    except Post.DoesNotExist:
        raise NotFound("No such post.", code="post_not_found") from None


def _post_response(request, pk: int, *, status_code: int = status.HTTP_200_OK) -> Response:
    """Re-read post ``pk`` for the caller (fresh counters, links, ``liked_by_me``)."""
    return Response(PostSerializer(_visible_post(request, pk)).data, status=status_code)


@extend_schema(tags=["posts"])
class UserPostsView(GenericAPIView):
    """``/api/Post/users/{userId}``: a user's visible posts (GET); create a post (POST)."""

    serializer_class = PostSerializer
    pagination_class = CursorPagination

    @extend_schema(
        operation_id="user_posts_list",
        summary="A user's posts visible to the caller, newest first",
        responses={200: PostSerializer(many=True), **ERRORS, **BAD_REQUEST},
    )
    def get(self, request, user_id: int):
        try:
            posts = selectors.user_posts(request.user, user_id)
        except get_user_model().DoesNotExist:
            raise NotFound("No such user.", code="user_not_found") from None
        page = selectors.attach_post_links(self.paginate_queryset(posts))
        return self.get_paginated_response(PostSerializer(page, many=True).data)

    @extend_schema(
        operation_id="user_posts_create",
        summary="Create a post (the seed route); userId must be the caller",
        request=PostCreateSerializer,
        responses={
            201: PostSerializer, **BAD_REQUEST, 401: ERRORS[401], **FORBIDDEN,
            404: OpenApiResponse(ErrorSerializer, description="userId is not an id (1..2^63-1): no such route."),
        },
    )
    def post(self, request, user_id: int):
        if user_id != request.user.pk:
            raise PermissionDenied("You can only create posts as yourself.")
        body = PostCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # The author sees their own new post: the 201 is built from what the service holds.
        post = services.post_create(author=request.user, **body.validated_data)
        return Response(PostSerializer(post).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["posts"])
class PostDetailView(GenericAPIView):
    """``/api/posts/{id}``: read (GET), edit (PATCH, author), delete (DELETE, author)."""

    serializer_class = PostSerializer
    pagination_class = None

    @extend_schema(operation_id="posts_retrieve", summary="A post, if visible to the caller", responses={200: PostSerializer, **ERRORS})
    def get(self, request, pk: int):
        return Response(PostSerializer(_visible_post(request, pk)).data)

    @extend_schema(
        operation_id="posts_partial_update",
        summary="Edit a post (author only); sets edited_at",
        request=PostUpdateSerializer,
        responses={200: PostSerializer, **BAD_REQUEST, **ERRORS, **FORBIDDEN},
    )
    def patch(self, request, pk: int):
        post = _visible_post(request, pk)
        if post.author_id != request.user.pk:
            raise PermissionDenied("Only the author can edit this post.", code="not_author")
        body = PostUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.post_update(post=post, user=request.user, **body.validated_data)
        return _post_response(request, pk)

    @extend_schema(
        operation_id="posts_destroy", summary="Delete a post (author only)", responses={204: None, **ERRORS, **FORBIDDEN}
    )
    def delete(self, request, pk: int):
        post = _visible_post_ref(request, pk)
        services.post_delete(post=post, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["posts"])
class PostLikeView(GenericAPIView):
    """``/api/posts/{id}/like``: like (POST: 201 new, 200 already liked) / unlike (DELETE: 204)."""

    serializer_class = PostSerializer
    pagination_class = None

    @extend_schema(
        operation_id="posts_like",
        summary="Like a post: 201 new like, 200 already liked; returns the post",
        request=None,
        responses={201: PostSerializer, 200: PostSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        post = _visible_post(request, pk)
        _, created = services.post_like(post=post, user=request.user)
        # ``post`` was read with the caller's details; the service updated its counter and
        # ``liked_by_me`` (an existing like was already in both).
        return Response(
            PostSerializer(post).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(operation_id="posts_unlike", summary="Remove your like (204 even if none)", responses={204: None, **ERRORS})
    def delete(self, request, pk: int):
        post = _visible_post_ref(request, pk)
        services.post_unlike(post=post, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["posts"])
class PostCommentsView(GenericAPIView):
    """``/api/posts/{id}/comments``: list oldest first (GET) / comment (POST: 201)."""

    serializer_class = CommentSerializer
    pagination_class = CommentPagination

    @extend_schema(
        operation_id="posts_comments_list",
        summary="A post's comments, oldest first",
        responses={200: CommentSerializer(many=True), **ERRORS, **BAD_REQUEST},
    )
    def get(self, request, pk: int):
        try:
            comments = selectors.post_comments(request.user, pk)
        except Post.DoesNotExist:
            raise NotFound("No such post.", code="post_not_found") from None
        page = self.paginate_queryset(comments)
        return self.get_paginated_response(CommentSerializer(page, many=True).data)

    @extend_schema(
        operation_id="posts_comments_create",
        summary="Comment on a post",
        request=CommentCreateSerializer,
        responses={201: CommentSerializer, **BAD_REQUEST, **ERRORS},
    )
    def post(self, request, pk: int):
        post = _visible_post_ref(request, pk)
        body = CommentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        comment = services.comment_create(
            post=post, author=request.user, content=body.validated_data["content"]
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["posts"])
class CommentDetailView(GenericAPIView):
    """``/api/comments/{id}``: delete (comment author or post author)."""

    serializer_class = CommentSerializer
    pagination_class = None

    @extend_schema(
        operation_id="comments_destroy",
        summary="Delete a comment (its author or the post's author)",
        responses={204: None, **ERRORS, **FORBIDDEN},
    )
    def delete(self, request, pk: int):
        try:
            comment = selectors.comment_for_viewer(request.user, pk)
        except Comment.DoesNotExist:
            raise NotFound("No such comment.", code="comment_not_found") from None
        services.comment_delete(comment=comment, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["posts"])
class PostReportView(GenericAPIView):
    """``/api/posts/{id}/report``: report a post to the moderators (201)."""

    serializer_class = ReportSerializer
    pagination_class = None

    @extend_schema(
        operation_id="posts_report",
        summary="Report a post to the moderators",
        request=ReportCreateSerializer,
        responses={
            201: ReportSerializer,
            **BAD_REQUEST,
            **ERRORS,
            409: OpenApiResponse(ErrorSerializer, description="You already reported this post."),
        },
    )
    def post(self, request, pk: int):
        post = _visible_post_ref(request, pk)
        body = ReportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        report = services.report_create(post=post, reporter=request.user, **body.validated_data)
        return Response(ReportSerializer(report).data, status=status.HTTP_201_CREATED)
