"""Mounted at /wallet/. The apple/v1/ paths are Apple's PassKit web service protocol, verbatim."""

from django.urls import path

from wallet import views

app_name = "wallet"

urlpatterns = [
    path(
        "apple/v1/devices/<str:device>/registrations/<str:pass_type_id>/<str:serial>",
        views.apple_registration,
        name="apple-registration",
    ),
    path(
        "apple/v1/devices/<str:device>/registrations/<str:pass_type_id>",
        views.apple_serial_numbers,
        name="apple-serial-numbers",
    ),
    path("apple/v1/passes/<str:pass_type_id>/<str:serial>", views.apple_pass, name="apple-pass"),
    path("apple/v1/log", views.apple_log, name="apple-log"),
    path("apple/card/<str:qr_code_data>.pkpass", views.apple_card_pass, name="apple-card-pass"),
    path("google/programs/<int:program_id>/logo.png", views.google_program_logo, name="google-program-logo"),
]
