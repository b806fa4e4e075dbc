"""/admin/insights/: the figures for owners and managers, with period and store pickers and downloads."""

import datetime
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import LoyaltyError
from insights import exports, figures
from insights.charts import chart
from insights.periods import PRESETS, find_store, parse_month, parse_period
from merchants.models import Merchant, Store
from merchants.selectors import scoped, staff_member_for

PRESET_LABELS = [
    ("7d", gettext_lazy("Last 7 days")),
    ("30d", gettext_lazy("Last 30 days")),
    ("90d", gettext_lazy("Last 90 days")),
    ("month", gettext_lazy("This month")),
]

# Each tile's definition, printed under the tiles (../shared/SPEC.md's words).
DEFINITIONS = {
    "members": gettext_lazy("Live cards enrolled by the last day of the period (at the store, when one is picked)."),
    "new": gettext_lazy("Cards enrolled during the period."),
    "active": gettext_lazy(
        "Members with at least one visit in the 30 (or 90) days ending on the last day of the period."
    ),
    "visits": gettext_lazy("A visit is a stamp or a points earn in the ledger."),
    "repeat": gettext_lazy("Members with two or more visits in the period, divided by members with at least one."),
    "stamps": gettext_lazy("Stamps added (stamps, positive adjustments) and stamps taken by reward redemptions."),
    "issued": gettext_lazy("Sum of the points added: earns, welcome and other bonuses, imports, positive adjustments."),
    "redeemed": gettext_lazy("Points spent on rewards (points redemptions)."),
    "voided": gettext_lazy("Points taken back by voids (returns) and negative adjustments."),
    "rewards": gettext_lazy("Rewards handed out: stamp-card rewards and points redemptions."),
    "breakage": gettext_lazy("Points expired divided by points issued, in the period."),
    "outstanding": gettext_lazy(
        "Points on live cards now, and what they are worth at the program's point value: what you owe your "
        "customers. The same for every store and period."
    ),
}


def merchant_for(request: HttpRequest) -> Merchant:
    """The owner's or manager's merchant; the platform operator picks one with ``?merchant=<slug>``."""
    member = staff_member_for(request.user)
    if member is not None and member.is_manager and member.merchant.is_active:
        return member.merchant
    if request.user.is_superuser:
        merchants = scoped(Merchant, request.user).order_by("name")
        merchant = merchants.filter(slug=request.GET.get("merchant") or "").first() or merchants.first()
        if merchant is None:
            raise Http404("No merchant yet.")
        return merchant
    raise PermissionDenied


def _query(request: HttpRequest, **changes) -> str:
    params = {k: v for k, v in request.GET.items() if v}
    params.update({k: v for k, v in changes.items()})
    return "?" + urlencode({k: v for k, v in params.items() if v})


def dashboard(request: HttpRequest) -> TemplateResponse:
    merchant = merchant_for(request)
    stores = scoped(Store, request.user).filter(merchant=merchant).order_by("name")
    error = None
    try:
        period = parse_period(request.GET.get("from"), request.GET.get("to"), preset=request.GET.get("preset"))
        store = find_store(merchant, stores, request.GET.get("store"))
    except LoyaltyError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        error = exc.message
        period, store = parse_period(None, None), None
    result = figures.summary(merchant=merchant, period=period, store=store)
    data = result.as_json()
    dates = period.dates()
    daily = data["daily"]
    charts = [
        chart(
            title=_("New members and visits per day"),
            dates=dates,
            series=[
                (_("New members"), "series-a", [d["new_members"] for d in daily]),
                (_("Visits"), "series-b", [d["visits"] for d in daily]),
            ],
        ),
        chart(
            title=_("Points issued and redeemed per day"),
            dates=dates,
            series=[
                (_("Points issued"), "series-c", [d["points_issued"] for d in daily]),
                (_("Points redeemed"), "series-d", [d["points_redeemed"] for d in daily]),
            ],
            kind="lines",
        ),
    ]
    downloads_query = {"merchant": merchant.slug} if request.user.is_superuser else {}
    period_query = {"from": period.start.isoformat(), "to": period.end.isoformat(), **downloads_query}
    context = {
        **admin.site.each_context(request),
        "title": _("Insights"),
        "subtitle": merchant.name,
        "merchant": merchant,
        "merchants": scoped(Merchant, request.user).order_by("name") if request.user.is_superuser else [],
        "summary": data,
        "tiles": tiles(data),
        "charts": charts,
        "error": error,
        "period": period,
        "store": store,
        "stores": stores,
        "presets": [
            (key, label, _query(request, preset=key, **{"from": "", "to": ""})) for key, label in PRESET_LABELS
        ],
        "preset": request.GET.get("preset") if request.GET.get("preset") in [*PRESETS, "month"] else None,
        "downloads": {
            "liability": reverse("insights:liability")
            + "?"
            + urlencode({"month": f"{period.end:%Y-%m}", **downloads_query}),
            "members": reverse("insights:members") + ("?" + urlencode(downloads_query) if downloads_query else ""),
            "ledger": reverse("insights:ledger") + "?" + urlencode(period_query),
        },
    }
    return TemplateResponse(request, "admin/insights/dashboard.html", context)


def tiles(data: dict) -> list[dict]:
    """The KPI tiles: label, value, a note, and the definition's key."""
    points = data["points"]
    members = data["members"]
    tiles = [
        {"label": _("Members"), "value": members["total"], "key": "members"},
        {"label": _("New members"), "value": members["new"], "key": "new"},
        {
            "label": _("Active, 30 / 90 days"),
            "value": f"{members['active_30d']} / {members['active_90d']}",
            "key": "active",
        },
        {"label": _("Visits"), "value": data["visits"], "key": "visits"},
        {"label": _("Repeat-visit rate"), "value": f"{data['repeat_visit_rate'] * 100:.0f} %", "key": "repeat"},
        {
            "label": _("Stamps issued / redeemed"),
            "value": f"{data['stamps']['issued']} / {data['stamps']['redeemed']}",
            "key": "stamps",
        },
        {"label": _("Points issued"), "value": points["issued"], "key": "issued"},
        {"label": _("Points redeemed"), "value": points["redeemed"], "key": "redeemed"},
        {"label": _("Points voided"), "value": points["voided"], "key": "voided"},
        {"label": _("Rewards redeemed"), "value": data["rewards_redeemed"], "key": "rewards"},
        {
            "label": _("Breakage"),
            "value": f"{data['breakage_rate'] * 100:.1f} %",
            "note": _("%(expired)s points expired") % {"expired": points["expired"]},
            "key": "breakage",
        },
        {
            "label": _("Points outstanding"),
            "value": points["outstanding"],
            "note": f"€{data['liability']['amount']}",
            "key": "outstanding",
            "wide": True,
        },
    ]
    for tile in tiles:
        tile["definition"] = DEFINITIONS[tile["key"]]
    return tiles


def liability_csv(request: HttpRequest):
    merchant = merchant_for(request)
    try:
        month = parse_month(request.GET.get("month"))
    except LoyaltyError:
        month = parse_month(None)
    rows = figures.liability(merchant=merchant, month=month)
    name = f"liability-{merchant.slug}-{month:%Y-%m}.csv"
    return exports.csv_response(name, figures.LIABILITY_COLUMNS, exports.liability_rows(rows), bom=True)


def members_csv(request: HttpRequest):
    merchant = merchant_for(request)
    name = f"members-{merchant.slug}-{datetime.date.today():%Y-%m-%d}.csv"
    return exports.csv_response(name, exports.MEMBER_COLUMNS, exports.member_rows(merchant), bom=True)


def ledger_csv(request: HttpRequest):
    merchant = merchant_for(request)
    try:
        period = parse_period(request.GET.get("from"), request.GET.get("to"))
    except LoyaltyError:
        period = parse_period(None, None)
    name = f"ledger-{merchant.slug}-{period.start}-{period.end}.csv"
    return exports.csv_response(name, exports.LEDGER_COLUMNS, exports.ledger_rows(merchant, period), bom=True)


def home_summary(request: HttpRequest) -> dict | None:
    """The admin home's figures for an owner or manager (last 30 days), or None for anyone else."""
    member = staff_member_for(request.user)
    if member is None or not member.is_manager or not member.merchant.is_active:
        return None
    data = figures.summary(merchant=member.merchant, period=parse_period(None, None)).as_json()
    shown = {"members", "new", "visits", "repeat", "issued", "redeemed", "outstanding"}
    return {"merchant": member.merchant, "tiles": [tile for tile in tiles(data) if tile["key"] in shown]}
