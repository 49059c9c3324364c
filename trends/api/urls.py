"""Routes of the trends API, included under ``/api/``."""

from django.urls import path

from trends.api import views

app_name = "trends"

urlpatterns = [
    path("trends/", views.TrendListView.as_view(), name="trend-list"),
    path("trends/hashtags/<str:tag>/posts", views.HashtagPostsView.as_view(), name="hashtag-posts"),
]
