"""Token authentication that also loads the staff membership the permission checks next."""

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from core.prepared import PreparedQuery
from merchants import tokens
from merchants.models import StaffToken

# Every staff API call runs it: compiled once per process (core/prepared.py).
_TOKEN_BY_HASH = PreparedQuery(
    lambda key_hash: StaffToken.objects.select_related("user__staff_member__merchant").filter(key_hash=key_hash)[:1],
    key_hash=str,
)


class StaffTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>`` with a device token (merchants/tokens.py).

    Reads token, user, staff membership and merchant in one query: every POS call asks who the
    staff member is right after authenticating, and merchants.selectors.staff_member_for finds it
    cached. An expired or revoked token, one issued before the password changed, or an inactive
    user is a 401 saying so.
    """

    def authenticate_credentials(self, key):
        token = next(iter(_TOKEN_BY_HASH(key_hash=tokens.key_hash(key))), None)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        refused = tokens.refusal(token)
        if refused is not None:
            code, message = refused
            raise exceptions.AuthenticationFailed(message, code=code)
        tokens.touch(token)
        return token.user, token
