"""Root URLs: the REST API under ``/api/``, probes, ``/metrics``, OpenAPI schema and docs, the
admin (with its operations page)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bellamy import health
from bellamy.metrics.operations import operations_view
from bellamy.metrics.views import metrics_view

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/operations/", admin.site.admin_view(operations_view), name="admin-operations"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("bellamy.accounts.api.urls")),
    path("api/", include("graph.api.urls")),
    path("api/", include("posts.api.urls")),
    path("api/", include("feed.api.urls")),
    path("api/", include("trends.api.urls")),
    path("api/", include("notifications.api.urls")),
    path("api/", include("search.api.urls")),
    path("api/", include("analytics.api.urls")),
    path("api/", include("exports.api.urls")),
]

handler400 = "bellamy.api.exceptions.bad_request"
handler404 = "bellamy.api.exceptions.not_found"
handler500 = "bellamy.api.exceptions.server_error"
