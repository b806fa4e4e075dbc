"""The cashier's point-of-sale page: sign-in, and one page that talks to the staff API.

The page is a Django template plus plain JavaScript (static/pos/pos.js); every balance change
goes through /api/v1/ with the session cookie and the CSRF token, like any other client.
"""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from loyalty.api.serializers import StaffOutput
from merchants.login_forms import LimitedAuthenticationForm, refused_status
from merchants.selectors import staff_member_for


class PosLoginView(auth_views.LoginView):
    """Sign-in for the till, under the shared sign-in limits (429 when they refuse)."""

    template_name = "pos/login.html"
    authentication_form = LimitedAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        return refused_status(super().form_invalid(form))


@never_cache
@ensure_csrf_cookie
@login_required
def pos_page(request: HttpRequest) -> HttpResponse:
    staff = staff_member_for(request.user)
    if staff is None or not staff.merchant.is_active:
        return render(request, "pos/not_staff.html", status=403)
    return render(request, "pos/index.html", {"staff": staff, "bootstrap": {"staff": StaffOutput(staff).data}})
