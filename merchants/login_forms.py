"""The admin's and the POS page's sign-in forms, under the shared sign-in limits.

Both forms ask merchants/login_limits.py before authenticating: a refused sign-in never checks
the password, and the view answers 429 with the refusal shown as the form's error, in the
page's language. A failed sign-in is counted against the username and the client address.
"""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from merchants import login_limits


class LimitedLoginFormMixin:
    """For a subclass of Django's ``AuthenticationForm``; ``retry_after`` is set when refused."""

    retry_after: int | None = None

    def clean(self):
        username = self.data.get("username", "")
        self.retry_after = login_limits.retry_after(self.request, username)
        if self.retry_after is not None:
            raise ValidationError(login_limits.refusal_message(self.retry_after), code="rate_limited")
        try:
            return super().clean()
        except ValidationError:
            login_limits.record_failure(self.request, username)
            raise


class LimitedAuthenticationForm(LimitedLoginFormMixin, AuthenticationForm):
    pass


class LimitedAdminAuthenticationForm(LimitedLoginFormMixin, AdminAuthenticationForm):
    pass


def refused_status(response: HttpResponse) -> HttpResponse:
    """429 with Retry-After when the login page's form was refused by the limits."""
    form = (getattr(response, "context_data", None) or {}).get("form")
    wait = getattr(form, "retry_after", None)
    if wait is not None:
        response.status_code = 429
        response["Retry-After"] = str(wait)
    return response


def admin_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """The admin site's own login view (with ``LimitedAdminAuthenticationForm``), 429 when refused."""
    return refused_status(admin.site.login(request, extra_context))
