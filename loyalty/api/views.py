"""The staff point-of-sale API (../shared/SPEC.md, "Staff API").

Each action validates with its own input serializer, calls one service and answers with an
output serializer. Tenant scoping comes from merchants/selectors.py through the loyalty
selectors, errors from the one handler in loyalty/api/errors.py.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpResponse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import LoyaltyError
from loyalty import idempotency, services
from loyalty.api import serializers as s
from loyalty.api.authentication import StaffTokenAuthentication
from loyalty.api.parsers import JSONParser
from loyalty.api.permissions import IsManager, IsMerchantStaff, current_staff
from loyalty.api.ratelimits import StaffRateLimit
from loyalty.api.schema import IDEMPOTENCY_KEY, error_responses
from loyalty.models import Alert, LoyaltyCard
from loyalty.selectors import (
    card_by_number,
    card_detail,
    find_cards,
    normalize_card_number,
    pos_cards,
    transactions_for_display,
)
from loyalty.services.alerts import acknowledge_alert
from loyalty.services.approvals import verify_approver
from loyalty.services.ledger import CardAtTill, PinNotProven, card_not_found
from merchants import login_limits
from merchants.models import StaffMember, Store
from merchants.pins import unlock_pin, verify_pin
from merchants.selectors import scoped, staff_member_for
from merchants.tokens import issue_token, live_tokens, sign_out_device, sign_out_staff


@dataclass(frozen=True)
class Operation:
    """What a mutation action hands its service: the checked card, store, staff and input."""

    card: LoyaltyCard
    store: Store
    staff_user: AbstractBaseUser
    idempotency_key: str
    data: dict
    approver: StaffMember | None = None

    @property
    def common(self) -> dict:
        return {
            "card": self.card,
            "store": self.store,
            "staff_user": self.staff_user,
            "idempotency_key": self.idempotency_key,
        }


class TransactionsPage(PageNumberPagination):
    """Page numbers; a page or page size that is not a whole number is a 400, not silently page 1."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        for name, maximum in (("page", None), ("page_size", self.max_page_size)):
            raw = request.query_params.get(name)
            if raw is None:
                continue
            if not raw.isdigit() or int(raw) < 1 or (maximum and int(raw) > maximum):
                limit = f" from 1 to {maximum}" if maximum else " from 1"
                raise exceptions.ValidationError({name: [f"Use a whole number{limit}."]})
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters


def _mutation_schema(input_class, summary: str, description: str = ""):
    return extend_schema(
        summary=summary,
        description=description
        + " Takes `store` unless the staff member works at exactly one store, and `staff_pin` when the"
        " program requires it; a redemption or void above the program's `approval_threshold_points` by a"
        " cashier also takes `approver` and `approver_pin` (else 403 `approval_required`).",
        request=input_class,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.MutationOutput, **error_responses(400, 401, 403, 404, 409, 415, 423, 429)},
        tags=["cards"],
    )


class CardViewSet(viewsets.GenericViewSet):
    """Cards of the signed-in staff member's merchant, by card number (dashes optional)."""

    permission_classes = [IsMerchantStaff]
    throttle_classes = [StaffRateLimit]
    parser_classes = [JSONParser]
    pagination_class = TransactionsPage
    lookup_field = "card_number"
    lookup_value_regex = "[^/]+"
    rate_limit_groups = {
        "stamp": "stamp",
        "redeem_stamps": "redeem",
        "earn_points": "earn",
        "redeem_points": "redeem",
        "void_points": "void",
        "void_stamp": "void",
        "adjust": "adjust",
    }

    def get_queryset(self):
        return pos_cards(self.request.user)

    def get_card(self) -> LoyaltyCard:
        card = card_by_number(self.request.user, self.kwargs["card_number"])
        if card is None:
            raise card_not_found()
        return card

    # --- reads -------------------------------------------------------------------------

    @extend_schema(
        summary="A card with customer, program rules, affordable rewards and recent transactions",
        responses={200: s.CardOutput, **error_responses(401, 403, 404)},
        tags=["cards"],
    )
    def retrieve(self, request, card_number=None):
        return Response(s.CARD_ANSWER.to_representation(card_detail(self.get_card())))

    @extend_schema(
        summary="Find a card by QR data, card number, email or phone",
        parameters=[s.LookupQuery],
        responses={200: s.CardOutput, **error_responses(400, 401, 403, 404, 409)},
        tags=["cards"],
    )
    @action(detail=False, methods=["get"])
    def lookup(self, request):
        query = s.LookupQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data["q"]
        cards = find_cards(request.user, q)
        if not cards:
            raise LoyaltyError("card_not_found", _("No card matches what was scanned or typed."), status=404)
        if len(cards) > 1:
            raise LoyaltyError(
                "multiple_matches",
                _("%(count)s cards match; pick the customer.") % {"count": len(cards)},
                status=409,
                details={"cards": [{"card_number": c.card_number, "name": c.customer.full_name} for c in cards]},
            )
        return Response(s.CARD_ANSWER.to_representation(card_detail(cards[0])))

    @extend_schema(
        summary="The card's ledger, newest first (paginated)",
        parameters=[s.TransactionsQuery],
        responses={200: s.TransactionOutput(many=True), **error_responses(400, 401, 403, 404)},
        tags=["cards"],
    )
    @action(detail=True, methods=["get"])
    def transactions(self, request, card_number=None):
        card = self.get_card()
        query = s.TransactionsQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        rows = transactions_for_display(card)
        if "type" in query.validated_data:
            rows = rows.filter(type=query.validated_data["type"])
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.TransactionOutput(page, many=True).data)

    # --- balance changes ---------------------------------------------------------------------

    @_mutation_schema(s.StampInput, "Add a stamp", "Cooldown and daily maximum apply.")
    @action(detail=True, methods=["post"])
    def stamp(self, request, card_number=None):
        return self._mutate(s.StampInput, lambda op: services.add_stamp(**op.common))

    @_mutation_schema(
        s.RedeemStampsInput,
        "Redeem a stamp reward",
        "Takes the stamps of the `reward_id` stamps reward, or the program's stamps target without it.",
    )
    @action(detail=True, methods=["post"], url_path="redeem-stamps")
    def redeem_stamps(self, request, card_number=None):
        return self._mutate(
            s.RedeemStampsInput, lambda op: services.redeem_stamps(**op.common, reward=op.data["reward"])
        )

    @_mutation_schema(
        s.EarnPointsInput,
        "Earn points for a purchase",
        "floor(purchase_amount x points_per_euro x tier multiplier x promotion multiplier).",
    )
    @action(detail=True, methods=["post"], url_path="earn-points")
    def earn_points(self, request, card_number=None):
        return self._mutate(
            s.EarnPointsInput,
            lambda op: services.earn_points(
                **op.common,
                purchase_amount=op.data["purchase_amount"],
                order_reference=op.data["order_reference"],
            ),
        )

    @_mutation_schema(s.RedeemPointsInput, "Redeem a catalogue reward or an amount of points")
    @action(detail=True, methods=["post"], url_path="redeem-points")
    def redeem_points(self, request, card_number=None):
        return self._mutate(
            s.RedeemPointsInput,
            lambda op: services.redeem_points(
                **op.common, reward=op.data["reward"], points=op.data.get("points"), approver=op.approver
            ),
        )

    @_mutation_schema(
        s.VoidPointsInput, "Void points on a return", "Against a points_earn transaction, or an amount with a reason."
    )
    @action(detail=True, methods=["post"], url_path="void-points")
    def void_points(self, request, card_number=None):
        return self._mutate(
            s.VoidPointsInput,
            lambda op: services.void_points(
                **op.common,
                earn_transaction_id=op.data.get("transaction_id"),
                points=op.data.get("points"),
                reason=op.data["reason"],
                approver=op.approver,
            ),
        )

    @_mutation_schema(
        s.VoidStampInput,
        "Void a stamp or a stamp-reward redemption given by mistake",
        "Today's only (TIME_ZONE), once; a redemption voided by a cashier needs a manager's approval when the "
        "program has an approval threshold.",
    )
    @action(detail=True, methods=["post"], url_path="void-stamp")
    def void_stamp(self, request, card_number=None):
        return self._mutate(
            s.VoidStampInput,
            lambda op: services.void_stamp(
                **op.common,
                transaction_id=op.data["transaction_id"],
                reason=op.data["reason"],
                approver=op.approver,
            ),
        )

    @_mutation_schema(s.AdjustInput, "Adjust points and/or stamps (manager or owner)", "A reason is required.")
    @action(detail=True, methods=["post"], permission_classes=[IsMerchantStaff, IsManager])
    def adjust(self, request, card_number=None):
        return self._mutate(
            s.AdjustInput,
            lambda op: services.adjust_balance(
                **op.common,
                points_delta=op.data["points_delta"],
                stamps_delta=op.data["stamps_delta"],
                reason=op.data["reason"],
            ),
        )

    def _mutate(self, input_class, apply: Callable[[Operation], services.LedgerResult]) -> HttpResponse:
        """Input serializer -> one service call (card lock, PIN rule, replay) -> the answer, kept once per key.

        The card is read once, locked, by the service (``CardAtTill``); only an input naming a
        reward reads it before. The answer is rendered once to bytes: those are sent, and kept
        for a retry with the same Idempotency-Key (loyalty/idempotency.py).
        """
        request = self.request
        staff = current_staff(request)
        key = idempotency.clean_key(request.headers.get(idempotency.HEADER))
        number = normalize_card_number(self.kwargs["card_number"])
        if number is None:
            raise card_not_found()
        card = SimpleLazyObject(self.get_card)  # read only by an input that needs it (a reward's program)
        serializer = input_class(data=request.data, context={"staff": staff, "card": card})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        request_hash = ""
        if key:
            payload = request.data
            if isinstance(payload, dict):
                payload = {k: v for k, v in payload.items() if k not in ("staff_pin", "approver_pin")}
            request_hash = idempotency.fingerprint(
                user_id=request.user.pk, operation=f"{self.action}:{number}", payload=payload
            )
        approver = None
        if data.get("approver"):
            # Checked before the operation's transaction: a wrong PIN counts even though it is refused.
            approver = verify_approver(
                merchant_id=staff.merchant_id,
                store=data["store"],
                username=data["approver"],
                pin=data.get("approver_pin"),
            )
        pin = data.get("staff_pin")
        target = CardAtTill(merchant_id=staff.merchant_id, card_number=number, staff=staff, pin=pin)
        operation = Operation(target, data["store"], request.user, key, data, approver)
        try:
            result = apply(operation)
        except PinNotProven:
            verify_pin(staff=staff, pin=pin)  # counts the attempt and says why, or clears old failures
            staff.pin_failed_attempts, staff.pin_locked_until = 0, None
            result = apply(operation)
        if result.replayed:
            return self._replay(staff, key, request_hash, result)
        response = self._answer(result)
        if key:
            idempotency.keep_answer(
                merchant_id=staff.merchant_id,
                user_id=request.user.pk,
                key=key,
                request_hash=request_hash,
                status=response.status_code,
                body=response.content,
            )
        return response

    def _answer(self, result: services.LedgerResult, *, replayed: bool = False) -> HttpResponse:
        """The transaction and the card as the service left it, rendered once to JSON bytes."""
        after = result.card  # read under lock and saved by the service, with customer, program and tier
        detail = card_detail(after)
        # The new ledger row is among the recent ones the detail has just read, with what a row
        # shows; read it on its own only when it is not (a replay of an older operation).
        row = next((t for t in detail.recent_transactions if t.pk == result.transaction.pk), None)
        if row is None:
            row = transactions_for_display(after).get(pk=result.transaction.pk)
        body = JSONRenderer().render(s.MUTATION_ANSWER.to_representation({"transaction": row, "card": detail}))
        response = HttpResponse(body, content_type="application/json")
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def _replay(self, staff: StaffMember, key: str, request_hash: str, result: services.LedgerResult) -> HttpResponse:
        """The first answer to this key: the bytes kept, else rebuilt from its ledger row (never kept, a crash)."""
        body = idempotency.kept_answer(merchant_id=staff.merchant_id, key=key, request_hash=request_hash)
        if body is None:
            return self._answer(result, replayed=True)
        response = HttpResponse(body, content_type="application/json")
        response["Idempotent-Replayed"] = "true"
        return response


class StaffViewSet(viewsets.GenericViewSet):
    """Staff of the signed-in user's merchant: who am I, PIN check, PIN unlock."""

    permission_classes = [IsMerchantStaff]
    throttle_classes = [StaffRateLimit]
    parser_classes = [JSONParser]
    serializer_class = s.StaffOutput
    pagination_class = None  # a merchant's team fits on one screen
    lookup_value_regex = "[^/]+"
    rate_limit_groups = {"pin_verify": "pin", "pin_unlock": "pin"}

    def get_queryset(self):
        return scoped(StaffMember, self.request.user).select_related("user", "merchant").order_by("user__username")

    def get_target(self) -> StaffMember:
        raw = self.kwargs.get("pk", "")
        staff = self.get_queryset().filter(pk=int(raw)).first() if raw.isdigit() else None
        if staff is None:
            raise LoyaltyError("staff_not_found", "No such staff member at your merchant.", status=404)
        return staff

    @extend_schema(
        summary="The merchant's staff and their PIN lock state (manager or owner)",
        responses={200: s.StaffOutput(many=True), **error_responses(401, 403)},
        tags=["staff"],
    )
    def list(self, request):
        self.check_manager(request)
        return Response(s.StaffOutput(self.get_queryset(), many=True).data)

    @extend_schema(
        summary="The signed-in staff member",
        responses={200: s.StaffOutput, **error_responses(401, 403)},
        tags=["staff"],
    )
    @action(detail=False, methods=["get"])
    def me(self, request):
        return Response(s.StaffOutput(current_staff(request)).data)

    @extend_schema(
        summary="Check the signed-in staff member's PIN",
        description="Five wrong PINs in a row lock it for 30 minutes (423); a manager can unlock it.",
        request=s.PinVerifyInput,
        responses={200: s.PinVerifyOutput, **error_responses(400, 401, 403, 415, 423, 429)},
        tags=["staff"],
    )
    @action(detail=False, methods=["post"], url_path="pin/verify")
    def pin_verify(self, request):
        data = s.PinVerifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        verify_pin(staff=current_staff(request), pin=data.validated_data["pin"])
        return Response(s.PinVerifyOutput({"verified": True}).data)

    @extend_schema(
        summary="Lift a staff member's PIN lockout (manager or owner)",
        request=None,
        responses={200: s.PinUnlockOutput, **error_responses(401, 403, 404, 429)},
        tags=["staff"],
    )
    @action(detail=True, methods=["post"], url_path="pin/unlock", permission_classes=[IsMerchantStaff, IsManager])
    def pin_unlock(self, request, pk=None):
        target = self.get_target()
        unlock_pin(staff=target, by_user=request.user)
        target.refresh_from_db()
        return Response(s.PinUnlockOutput({"unlocked": True, "staff": target}).data)

    @extend_schema(
        summary="A staff member's signed-in devices (manager or owner)",
        description="Tokens that still work, newest first; sign them out with `tokens/revoke/`.",
        responses={200: s.StaffTokenOutput(many=True), **error_responses(401, 403, 404)},
        tags=["staff"],
    )
    @action(detail=True, methods=["get"], permission_classes=[IsMerchantStaff, IsManager])
    def tokens(self, request, pk=None):
        target = self.get_target()
        return Response(s.StaffTokenOutput(live_tokens(user=target.user), many=True).data)

    @extend_schema(
        summary="Sign a staff member's devices out (manager or owner)",
        description="Every device, or the one of `token_id`: their tokens stop working at once (401).",
        request=s.StaffTokensRevokeInput,
        responses={200: s.TokensRevokedOutput, **error_responses(400, 401, 403, 404, 415)},
        tags=["staff"],
    )
    @action(detail=True, methods=["post"], url_path="tokens/revoke", permission_classes=[IsMerchantStaff, IsManager])
    def tokens_revoke(self, request, pk=None):
        target = self.get_target()
        data = s.StaffTokensRevokeInput(data=request.data)
        data.is_valid(raise_exception=True)
        revoked = sign_out_staff(staff=target, by_user=request.user, token_id=data.validated_data.get("token_id"))
        return Response(s.TokensRevokedOutput({"revoked": revoked}).data)

    def check_manager(self, request) -> None:
        if not IsManager().has_permission(request, self):
            raise exceptions.PermissionDenied(IsManager.message, code=IsManager.code)


class AlertViewSet(viewsets.GenericViewSet):
    """The merchant's anomaly alerts, newest first, for managers and owners (cashiers: 403)."""

    permission_classes = [IsMerchantStaff, IsManager]
    parser_classes = [JSONParser]
    pagination_class = TransactionsPage
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return (
            scoped(Alert, self.request.user)
            .select_related("staff", "card", "acknowledged_by")
            .order_by("-created_at", "-id")
        )

    @extend_schema(
        summary="Anomaly alerts (manager or owner)",
        parameters=[s.AlertsQuery],
        responses={200: s.AlertOutput(many=True), **error_responses(400, 401, 403, 404)},
        tags=["alerts"],
    )
    def list(self, request):
        query = s.AlertsQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        alerts = self.get_queryset()
        acknowledged = query.validated_data.get("acknowledged")
        if acknowledged is not None:
            alerts = alerts.filter(acknowledged_at__isnull=not acknowledged)
        page = self.paginate_queryset(alerts)
        return self.get_paginated_response(s.AlertOutput(page, many=True).data)

    @extend_schema(
        summary="Acknowledge an alert (manager or owner)",
        request=None,
        responses={200: s.AlertOutput, **error_responses(401, 403, 404)},
        tags=["alerts"],
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        raw = self.kwargs.get("pk", "")
        alert = self.get_queryset().filter(pk=int(raw)).first() if raw.isdigit() else None
        if alert is None:
            raise LoyaltyError("not_found", "No such alert at your merchant.", status=404)
        alert = acknowledge_alert(alert=alert, by_user=request.user)
        return Response(s.AlertOutput(self.get_queryset().get(pk=alert.pk)).data)


class TokenView(APIView):
    """Sign a device in (username and password for a token) or out (the token it sends)."""

    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    def initialize_request(self, request, *args, **kwargs):
        # Signing out needs the device's token; nothing else reads credentials (a stale token
        # header must not stop a sign-in).
        self.authentication_classes = [StaffTokenAuthentication] if request.method == "DELETE" else []
        return super().initialize_request(request, *args, **kwargs)

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else [AllowAny()]

    def get_authenticate_header(self, request) -> str:
        return "Token"

    @extend_schema(
        summary="Get an API token",
        description=(
            "Send `Authorization: Token <token>` on every other call. The token works until `expires_at` "
            "(`LOYALTY_API_TOKEN_TTL_HOURS`, 10 by default), until this device or a manager signs it out, "
            "and until the password changes. Failed sign-ins are limited per username and per client "
            "address (429 `rate_limited` with Retry-After, even for the right password, until the wait ends)."
        ),
        request=s.TokenInput,
        responses={
            200: s.TokenOutput,
            **error_responses(400, 403, 415, 429),
            401: OpenApiResponse(s.ErrorOutput, description="Wrong username or password (`invalid_credentials`)."),
        },
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        data = s.TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        username = AbstractBaseUser.normalize_username(data.validated_data["username"])
        wait = login_limits.retry_after(request, username)
        if wait is not None:
            raise LoyaltyError(
                "rate_limited", login_limits.refusal_message(wait), status=429, details={"retry_after_seconds": wait}
            )
        user = authenticate(request._request, username=username, password=data.validated_data["password"])
        if user is None:
            login_limits.record_failure(request, username)
            raise exceptions.AuthenticationFailed("Wrong username or password.", code="invalid_credentials")
        member = staff_member_for(user)
        if member is None or not member.merchant.is_active:
            raise LoyaltyError("not_staff", "This account is not staff of an active merchant.", status=403)
        device = data.validated_data.get("device") or request.headers.get("User-Agent", "")
        key, token = issue_token(user=user, device=device)
        return Response(s.TokenOutput({"token": key, "expires_at": token.expires_at}).data)

    @extend_schema(
        summary="Sign this device out",
        description="The token sent in `Authorization` stops working at once.",
        request=None,
        responses={200: s.TokensRevokedOutput, **error_responses(401)},
        tags=["auth"],
    )
    def delete(self, request):
        return Response(s.TokensRevokedOutput({"revoked": sign_out_device(token=request.auth)}).data)
