"""Routes of the posts API, included under ``/api/`` (API.md "Posts")."""

from django.urls import path

import bellamy.api.converters  # noqa: F401  (registers the <id:…> converter)
from posts.api import views

app_name = "posts"

urlpatterns = [
    path("Post/users/<id:user_id>", views.UserPostsView.as_view(), name="user-posts"),
    path("posts/<id:pk>", views.PostDetailView.as_view(), name="post-detail"),
    path("posts/<id:pk>/like", views.PostLikeView.as_view(), name="post-like"),
    path("posts/<id:pk>/comments", views.PostCommentsView.as_view(), name="post-comments"),
    path("posts/<id:pk>/report", views.PostReportView.as_view(), name="post-report"),
    path("comments/<id:pk>", views.CommentDetailView.as_view(), name="comment-detail"),
]
