from django.urls import path, register_converter
from django.views.i18n import set_language

from customers import preference_views, privacy_views, views

app_name = "customers"


class CardTokenConverter:
    """The card's qr_code_data: URL-safe base64 characters only (anything else is a 404, not a query)."""

    regex = r"[A-Za-z0-9_-]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(CardTokenConverter, "card_token")

urlpatterns = [
    path("join/<slug:merchant_slug>/", views.join, name="join"),
    path("join/<slug:merchant_slug>/sent/", views.join_sent, name="join-sent"),
    path("join/<slug:merchant_slug>/terms/", views.terms, name="terms"),
    path("card/<card_token:qr_code_data>/", views.card_page, name="card"),
    path("card/<card_token:qr_code_data>/language/", views.card_language, name="card-language"),
    path("card/<card_token:qr_code_data>/data/", privacy_views.my_data, name="my-data"),
    path("card/<card_token:qr_code_data>/preferences/", preference_views.preferences_page, name="preferences"),
    path(
        "card/<card_token:qr_code_data>/preferences/unsubscribe/<str:token>/",
        preference_views.unsubscribe,
        name="unsubscribe",
    ),
    # The public pages' language switcher (Django's view: POST language + next, sets the cookie).
    path("language/", set_language, name="set-language"),
]
