"""Mounted at /wallet/. The apple/v1/ paths are Apple's PassKit web service protocol, verbatim."""

from django.urls import path

from wallet import converters, views  # noqa: F401 - importing converters registers apple_id, wallet_card_token

app_name = "wallet"

urlpatterns = [
    path(
        "apple/v1/devices/<apple_id:device>/registrations/<apple_id:pass_type_id>/<apple_id:serial>",
        views.apple_registration,
        name="apple-registration",
    ),
    path(
        "apple/v1/devices/<apple_id:device>/registrations/<apple_id:pass_type_id>",
        views.apple_serial_numbers,
        name="apple-serial-numbers",
    ),
    path("apple/v1/passes/<apple_id:pass_type_id>/<apple_id:serial>", views.apple_pass, name="apple-pass"),
    path("apple/v1/log", views.apple_log, name="apple-log"),
    path("apple/card/<wallet_card_token:qr_code_data>.pkpass", views.apple_card_pass, name="apple-card-pass"),
    path("google/programs/<int:program_id>/logo.png", views.google_program_logo, name="google-program-logo"),
]
