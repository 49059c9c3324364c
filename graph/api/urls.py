"""Social-graph routes, mounted under ``/api/`` (API.md "Social graph")."""

from django.urls import path

import bellamy.api.converters  # noqa: F401  (registers the <id:…> converter)
from graph.api import views
from graph.api.suggestions import SuggestionListView  # graph worker
from graph.api.users import UserDetailView, UserSearchView

urlpatterns = [
    # Users as the caller sees them (API.md "Accounts"): friends_count, friendship_status, blocks.
    path("users/", UserSearchView.as_view(), name="users-search"),
    path("users/<id:pk>", UserDetailView.as_view(), name="users-detail"),
    path("friends/requests", views.FriendRequestListCreateView.as_view(), name="friend-requests"),
    path("friends/requests/<id:pk>", views.FriendRequestDetailView.as_view(), name="friend-request-detail"),
    path("friends/requests/<id:pk>/accept", views.FriendRequestAcceptView.as_view(), name="friend-request-accept"),
    path("friends/requests/<id:pk>/decline", views.FriendRequestDeclineView.as_view(), name="friend-request-decline"),
    path("friends/", views.FriendListView.as_view(), name="friends"),
    path("friends/<id:user_id>", views.FriendDetailView.as_view(), name="friend-detail"),
    path("users/<id:pk>/friends", views.UserFriendListView.as_view(), name="user-friends"),
    path("blocks", views.BlockListCreateView.as_view(), name="blocks"),
    path("blocks/<id:user_id>", views.BlockDetailView.as_view(), name="block-detail"),
    path("friends/suggestions", SuggestionListView.as_view(), name="friend-suggestions"),  # graph worker
]
