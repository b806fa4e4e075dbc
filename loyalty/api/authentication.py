"""Token authentication that also loads the staff membership the permission checks next."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


class StaffTokenAuthentication(TokenAuthentication):
    """DRF's token auth, reading token, user, staff membership and merchant in one query.

    Every POS call asks who the staff member is right after authenticating; loading it with
    the token saves that round trip (merchants.selectors.staff_member_for finds it cached).
    """

    def authenticate_credentials(self, key):
        token = Token.objects.select_related("user__staff_member__merchant").filter(key=key).first()
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token
