"""The staff API at /api/v1/ (paths fixed by ../shared/SPEC.md)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.routers import SimpleRouter

from insights.api import LedgerExportView, LiabilityCsvView, MembersExportView, SummaryView
from loyalty.api.customer_views import CustomerViewSet
from loyalty.api.docs import SwaggerDocsView
from loyalty.api.views import AlertViewSet, CardViewSet, StaffViewSet, TokenView

app_name = "api"

router = SimpleRouter()
router.register("cards", CardViewSet, basename="card")
router.register("staff", StaffViewSet, basename="staff")
router.register("customers", CustomerViewSet, basename="customer")
router.register("alerts", AlertViewSet, basename="alert")

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("insights/summary/", SummaryView.as_view(), name="insights-summary"),
    path("insights/liability.csv", LiabilityCsvView.as_view(), name="insights-liability"),
    path("exports/members.csv", MembersExportView.as_view(), name="export-members"),
    path("exports/ledger.csv", LedgerExportView.as_view(), name="export-ledger"),
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
