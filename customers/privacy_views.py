"""The customer's own download of what we keep about them, from their card page."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from customers.privacy import export_customer, export_filename
from loyalty.models import LoyaltyCard


@never_cache
@require_safe
def my_data(request: HttpRequest, qr_code_data: str) -> HttpResponse:
    """``/card/<qr_code_data>/data/``: the card's secret address is the key, as for the card page."""
    card = get_object_or_404(
        LoyaltyCard.objects.alive().select_related("customer__merchant"),
        qr_code_data=qr_code_data,
        customer__erased_at__isnull=True,
    )
    document = export_customer(card.customer)
    response = HttpResponse(
        json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename(card.customer)}"'
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
