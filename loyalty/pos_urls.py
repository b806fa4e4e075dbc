from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.i18n import JavaScriptCatalog

from loyalty import pos_views

app_name = "pos"

urlpatterns = [
    path("", pos_views.pos_page, name="index"),
    path("login/", pos_views.PosLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The page's texts in the staff member's language, as a script from this origin (CSP: 'self').
    path("jsi18n/", JavaScriptCatalog.as_view(), name="jsi18n"),
]
