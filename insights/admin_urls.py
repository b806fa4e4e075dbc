"""/admin/insights/…: behind the admin's login (``admin_site.admin_view``)."""

from django.contrib import admin
from django.urls import path

from insights import admin_views

app_name = "insights"

urlpatterns = [
    path("", admin.site.admin_view(admin_views.dashboard), name="dashboard"),
    path("liability.csv", admin.site.admin_view(admin_views.liability_csv), name="liability"),
    path("members.csv", admin.site.admin_view(admin_views.members_csv), name="members"),
    path("ledger.csv", admin.site.admin_view(admin_views.ledger_csv), name="ledger"),
]
