from django.urls import path

from feed.api.views import FeedView

urlpatterns = [path("feed/", FeedView.as_view(), name="feed")]
