"""Routes of the posts API, included under ``/api/`` (API.md "Posts")."""

from django.urls import path

from posts.api import views

app_name = "posts"

urlpatterns = [
    path("Post/users/<int:user_id>", views.UserPostsView.as_view(), name="user-posts"),
    path("posts/<int:pk>", views.PostDetailView.as_view(), name="post-detail"),
    path("posts/<int:pk>/like", views.PostLikeView.as_view(), name="post-like"),
    path("posts/<int:pk>/comments", views.PostCommentsView.as_view(), name="post-comments"),
    path("posts/<int:pk>/report", views.PostReportView.as_view(), name="post-report"),
    path("comments/<int:pk>", views.CommentDetailView.as_view(), name="comment-detail"),
]
