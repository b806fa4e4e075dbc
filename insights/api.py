"""The insights API: the summary as JSON, the liability roll-forward and the exports as CSV.

Owners and managers of the merchant (cashiers 403); the store comes from the user's scoped
stores (another merchant's is a 404); bad dates are 400s in the SPEC's error shape.
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from insights import exports, figures
from insights.periods import find_store, parse_month, parse_period
from loyalty.api.permissions import IsManager, IsMerchantStaff, current_staff
from loyalty.api.schema import error_responses
from merchants.models import Store
from merchants.selectors import scoped

FROM = OpenApiParameter("from", OpenApiTypes.DATE, description="First day (inclusive, YYYY-MM-DD, in TIME_ZONE).")
TO = OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (inclusive); today by default.")
STORE = OpenApiParameter("store", OpenApiTypes.STR, description="A store code of your merchant; all stores by default.")
MONTH = OpenApiParameter(
    "month",
    {"type": "string", "pattern": r"^\d{4}-\d{2}$"},
    description="The last month of the roll-forward (YYYY-MM); this month by default.",
)
CSV = OpenApiResponse(OpenApiTypes.STR, description="A CSV file (UTF-8, comma-separated, header row).")
_counts = {name: serializers.IntegerField() for name in ["visits", "new_members", "points_issued", "points_redeemed"]}
SUMMARY = inline_serializer(
    "InsightsSummary",
    {
        "period": inline_serializer("InsightsPeriod", {"from": serializers.DateField(), "to": serializers.DateField()}),
        "store": serializers.CharField(allow_null=True),
        "members": inline_serializer(
            "InsightsMembers", {n: serializers.IntegerField() for n in ["total", "new", "active_30d", "active_90d"]}
        ),
        "visits": serializers.IntegerField(),
        "repeat_visit_rate": serializers.FloatField(),
        "stamps": inline_serializer("InsightsStamps", {n: serializers.IntegerField() for n in ["issued", "redeemed"]}),
        "points": inline_serializer(
            "InsightsPoints",
            {n: serializers.IntegerField() for n in ["issued", "redeemed", "voided", "expired", "outstanding"]},
        ),
        "rewards_redeemed": serializers.IntegerField(),
        "breakage_rate": serializers.FloatField(),
        "liability": inline_serializer(
            "InsightsLiability",
            {
                "points_outstanding": serializers.IntegerField(),
                "point_value": serializers.CharField(),
                "amount": serializers.CharField(),
                "currency": serializers.CharField(),
            },
        ),
        "by_store": inline_serializer(
            "InsightsStoreRow",
            {
                "store": serializers.CharField(allow_null=True),
                "name": serializers.CharField(allow_null=True),
                **_counts,
            },
            many=True,
        ),
        "by_staff": inline_serializer(
            "InsightsStaffRow",
            {
                "staff": serializers.CharField(),
                **{n: serializers.IntegerField() for n in ["operations", "voids", "adjustments", "points_voided"]},
            },
            many=True,
        ),
        "daily": inline_serializer(
            "InsightsDay", {"date": serializers.DateField(), **{n: f for n, f in _counts.items()}}, many=True
        ),
    },
)


class InsightsView(APIView):
    permission_classes = [IsMerchantStaff, IsManager]

    def perform_content_negotiation(self, request, force=False):
        # A client asking for text/csv still gets its CSV (or a JSON error), never a 406.
        return super().perform_content_negotiation(request, force=True)

    @property
    def merchant(self):
        return current_staff(self.request).merchant

    def period(self):
        params = self.request.query_params
        return parse_period(params.get("from"), params.get("to"))

    def store(self):
        return find_store(self.merchant, scoped(Store, self.request.user), self.request.query_params.get("store"))


class SummaryView(InsightsView):
    @extend_schema(
        summary="Insights: members, visits, points, liability, per store, per staff and per day",
        parameters=[FROM, TO, STORE],
        responses={200: SUMMARY, **error_responses(400, 401, 403, 404)},
        tags=["insights"],
    )
    def get(self, request):
        period, store = self.period(), self.store()
        return Response(figures.summary(merchant=self.merchant, period=period, store=store).as_json())


class LiabilityCsvView(InsightsView):
    @extend_schema(
        summary="The points liability roll-forward, month by month, as CSV",
        parameters=[MONTH],
        responses={(200, "text/csv"): CSV, **error_responses(400, 401, 403)},
        tags=["insights"],
    )
    def get(self, request):
        month = parse_month(request.query_params.get("month"))
        rows = figures.liability(merchant=self.merchant, month=month)
        name = f"liability-{self.merchant.slug}-{month:%Y-%m}.csv"
        return exports.csv_response(name, figures.LIABILITY_COLUMNS, exports.liability_rows(rows), bom=False)


class MembersExportView(InsightsView):
    @extend_schema(
        summary="Every live card and its customer, as CSV (streamed)",
        responses={(200, "text/csv"): CSV, **error_responses(401, 403)},
        tags=["exports"],
    )
    def get(self, request):
        name = f"members-{self.merchant.slug}-{timezone.localdate():%Y-%m-%d}.csv"
        return exports.csv_response(name, exports.MEMBER_COLUMNS, exports.member_rows(self.merchant), bom=False)


class LedgerExportView(InsightsView):
    @extend_schema(
        summary="The ledger of a period, oldest first, as CSV (streamed)",
        parameters=[FROM, TO],
        responses={(200, "text/csv"): CSV, **error_responses(400, 401, 403)},
        tags=["exports"],
    )
    def get(self, request):
        period = self.period()
        name = f"ledger-{self.merchant.slug}-{period.start}-{period.end}.csv"
        return exports.csv_response(name, exports.LEDGER_COLUMNS, exports.ledger_rows(self.merchant, period), bom=False)
