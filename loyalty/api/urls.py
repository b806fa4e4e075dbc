"""The staff API at /api/v1/ (paths fixed by ../shared/SPEC.md)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.routers import SimpleRouter

from loyalty.api.docs import SwaggerDocsView
from loyalty.api.views import AlertViewSet, CardViewSet, StaffViewSet, TokenView

app_name = "api"

router = SimpleRouter()
router.register("cards", CardViewSet, basename="card")
router.register("staff", StaffViewSet, basename="staff")
router.register("alerts", AlertViewSet, basename="alert")

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]),
        name="schema",
    ),
    path(
        "docs/",
        SwaggerDocsView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[AllowAny]),
        name="docs",
    ),
    *router.urls,
]
