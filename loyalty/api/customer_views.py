"""Customers' personal data through the staff API: export (managers) and erase (owners).

``GET /api/v1/customers/{id}/export/`` answers everything kept about the customer
(customers/privacy.py); ``POST /api/v1/customers/{id}/erase/`` ``{"reason"}`` erases them
(customers/erasure.py). Another merchant's customer is a 404, like an unknown one.
"""

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from core.errors import LoyaltyError
from customers.erasure import MAX_REASON_LENGTH, erase_customer
from customers.models import Customer, Erasure
from customers.privacy import export_customer, export_filename
from loyalty.api.parsers import JSONParser
from loyalty.api.permissions import IsManager, IsMerchantStaff
from loyalty.api.ratelimits import StaffRateLimit
from loyalty.api.schema import error_responses
from merchants.authorization import is_owner
from merchants.selectors import scoped


class IsOwner(BasePermission):
    """The owner of the merchant (managers and cashiers are refused)."""

    message = "Only the owner can erase a customer."
    code = "permission_denied"

    def has_permission(self, request, view) -> bool:
        return is_owner(request.user)


class EraseInput(serializers.Serializer):
    reason = serializers.CharField(
        max_length=MAX_REASON_LENGTH,
        help_text="Why the customer is erased (their request, the end of the retention period…). Kept in the audit.",
    )


class ErasureOutput(serializers.Serializer):
    customer_id = serializers.IntegerField(source="customer.pk")
    erased_at = serializers.DateTimeField(source="customer.erased_at")
    email = serializers.CharField(source="customer.email", help_text="Now `erased-<id>@invalid`.")
    already_erased = serializers.BooleanField(help_text="The customer had been erased before; nothing changed.")
    erasure = serializers.SerializerMethodField()

    def get_erasure(self, result) -> dict:
        erasure: Erasure = result.erasure
        return {
            "id": erasure.pk,
            "created_at": serializers.DateTimeField().to_representation(erasure.created_at),
            "erased_by": erasure.erased_by.get_username() if erasure.erased_by_id else None,
            "source": erasure.source,
            "reason": erasure.reason,
            "cards": erasure.cards,
        }


class CustomerViewSet(viewsets.GenericViewSet):
    """A customer of the signed-in staff member's merchant, by id."""

    permission_classes = [IsMerchantStaff, IsManager]
    throttle_classes = [StaffRateLimit]
    parser_classes = [JSONParser]
    pagination_class = None
    lookup_value_regex = "[^/]+"
    rate_limit_groups = {"erase": "adjust"}

    def get_queryset(self):
        return scoped(Customer, self.request.user).select_related("merchant")

    def get_customer(self) -> Customer:
        raw = self.kwargs.get("pk", "")
        customer = self.get_queryset().filter(pk=int(raw)).first() if raw.isdigit() and len(raw) < 19 else None
        if customer is None:
            raise LoyaltyError("customer_not_found", "No such customer at your merchant.", status=404)
        return customer

    @extend_schema(
        summary="Everything kept about a customer, as JSON (manager or owner)",
        description="Profile, consents, cards with their ledger, expiry reminders and Apple Wallet devices, "
        "emails queued or sent to them, erasures. The same document the customer downloads from their card page.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 403, 404)},
        tags=["customers"],
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        customer = self.get_customer()
        response = Response(export_customer(customer))
        response["Content-Disposition"] = f'attachment; filename="{export_filename(customer)}"'
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(
        summary="Erase a customer's personal data (owner)",
        description="Names become `Erased`, the email `erased-<id>@invalid`, phone and birth date are emptied, "
        "marketing is off; cards are deactivated and their wallet passes revoked; the ledger is kept. "
        "Erasing again changes nothing (`already_erased`).",
        request=EraseInput,
        responses={200: ErasureOutput, **error_responses(400, 401, 403, 404, 415, 429)},
        tags=["customers"],
    )
    @action(detail=True, methods=["post"], permission_classes=[IsMerchantStaff, IsOwner])
    def erase(self, request, pk=None):
        customer = self.get_customer()
        data = EraseInput(data=request.data)
        if not data.is_valid():
            if "reason" in data.errors:
                raise LoyaltyError(
                    "reason_required",
                    "Say why the customer is erased (their request, the retention period…).",
                    status=400,
                    details={"reason": [str(error) for error in data.errors["reason"]]},
                )
            data.is_valid(raise_exception=True)
        result = erase_customer(
            customer=customer,
            reason=data.validated_data["reason"],
            erased_by=request.user,
            source=Erasure.Source.API,
        )
        return Response(ErasureOutput(result).data)
