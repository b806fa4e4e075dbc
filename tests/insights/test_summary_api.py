"""GET /api/v1/insights/summary/: each figure's definition on the hand-built ledger (conftest.py)."""

import pytest

from insights.rollup import rebuild, roll_up
from tests.insights.conftest import client_for

URL = "/api/v1/insights/summary/"
PERIOD = {"from": "2026-01-10", "to": "2026-01-20"}


@pytest.fixture(params=["ledger only", "rebuilt roll-up", "minute job"])
def rolled(request, ledger):
    """The same figures whether they come from the ledger, a rebuilt roll-up or the job's increments."""
    if request.param == "rebuilt roll-up":
        rebuild()
    elif request.param == "minute job":
        roll_up()  # sees the newest id
        roll_up()  # rolls up to it
    return request.param


def test_every_figure_follows_its_definition(owner_api, rolled):
    body = owner_api.get(URL, PERIOD).json()
    assert body["period"] == {"from": "2026-01-10", "to": "2026-01-20"}
    assert body["store"] is None
    # c1 and c2 are live and enrolled by 20 Jan (c3 is deleted); c2 joined in the period; c3's
    # last visit (1 Dec) is within 90 days of 20 Jan but not 30.
    assert body["members"] == {"total": 2, "new": 1, "active_30d": 2, "active_90d": 3}
    # Stamps and earns inside the local days: c1's 00:30 stamp on the 10th counts, its 23:59 stamp
    # on the 9th does not; c2's 23:30 stamp on the 20th counts, its 00:30 earn on the 21st does not.
    assert body["visits"] == 4
    assert body["repeat_visit_rate"] == 0.5  # c1 visited 3 times, c2 once
    assert body["stamps"] == {"issued": 3, "redeemed": 2}
    assert body["points"] == {
        "issued": 37,  # earn 20 + positive adjustment 7 + c2's welcome 10
        "redeemed": 15,
        "voided": 8,  # void 5 + negative adjustment 3
        "expired": 10,
        "outstanding": 50,  # live cards now: c1 20 + c2 30
    }
    assert body["rewards_redeemed"] == 2  # a stamp reward and a points reward
    assert body["breakage_rate"] == round(10 / 37, 4)
    assert body["liability"] == {"points_outstanding": 50, "point_value": "0.05", "amount": "2.50", "currency": "EUR"}
    assert body["by_store"] == [
        {
            "store": "main",
            "name": "Main street",
            "visits": 3,
            "new_members": 0,
            "points_issued": 20,
            "points_redeemed": 15,
        },
        {
            "store": "kiosk",
            "name": "Station kiosk",
            "visits": 1,
            "new_members": 1,
            "points_issued": 17,
            "points_redeemed": 0,
        },
        {"store": None, "name": None, "visits": 0, "new_members": 0, "points_issued": 0, "points_redeemed": 0},
    ]
    assert body["by_staff"] == [
        {"staff": "carl", "operations": 6, "voids": 1, "adjustments": 0, "points_voided": 5},
        {"staff": "max", "operations": 2, "voids": 0, "adjustments": 2, "points_voided": 3},
        {"staff": "kim", "operations": 1, "voids": 0, "adjustments": 0, "points_voided": 0},
    ]
    days = {d["date"]: d for d in body["daily"]}
    assert list(days) == [f"2026-01-{n:02d}" for n in range(10, 21)]
    assert days["2026-01-10"] == {
        "date": "2026-01-10",
        "new_members": 0,
        "visits": 1,
        "points_issued": 0,
        "points_redeemed": 0,
    }
    assert days["2026-01-11"] == {
        "date": "2026-01-11",
        "new_members": 1,
        "visits": 0,
        "points_issued": 10,
        "points_redeemed": 0,
    }
    assert days["2026-01-12"]["visits"] == 2 and days["2026-01-12"]["points_issued"] == 20
    assert days["2026-01-15"]["points_redeemed"] == 15
    assert days["2026-01-20"]["visits"] == 1
    assert sum(d["visits"] for d in body["daily"]) == body["visits"]
    assert sum(d["points_issued"] for d in body["daily"]) == body["points"]["issued"]


def test_one_store(owner_api, rolled):
    body = owner_api.get(URL, {**PERIOD, "store": "kiosk"}).json()
    assert body["store"] == "kiosk"
    assert body["members"] == {"total": 1, "new": 1, "active_30d": 1, "active_90d": 1}
    assert body["visits"] == 1
    assert body["points"]["issued"] == 17 and body["points"]["voided"] == 3 and body["points"]["expired"] == 0
    assert [row["store"] for row in body["by_store"]] == ["kiosk"]
    assert [row["staff"] for row in body["by_staff"]] == ["max", "kim"]
    # What the merchant owes does not depend on the store picked.
    assert body["liability"]["points_outstanding"] == 50


def test_rows_written_after_the_roll_up_are_counted_live(owner_api, ledger):
    from tests.insights.conftest import Type, at, row

    rebuild()
    c1, c2, _ = ledger["cards"]
    row(c1, Type.POINTS_EARN, at(2026, 1, 14), points=4, store=ledger["main"], staff=ledger["cashier"])
    row(c2, Type.STAMP, at(2026, 1, 14), stamps=1, store=ledger["kiosk"], staff=ledger["cashier"])
    for _ in range(3):  # live, then seen by the job, then rolled up
        body = owner_api.get(URL, PERIOD).json()
        assert body["points"]["issued"] == 41
        assert body["visits"] == 6
        assert body["repeat_visit_rate"] == 1.0  # c2 now visited twice too
        assert body["members"]["active_30d"] == 2
        kiosk = owner_api.get(URL, {**PERIOD, "store": "kiosk"}).json()
        assert kiosk["visits"] == 2 and kiosk["repeat_visit_rate"] == 1.0
        roll_up()


def test_default_period_is_the_last_30_days(owner_api):
    import datetime

    from insights.periods import today

    body = owner_api.get(URL).json()
    assert body["period"] == {
        "from": (today() - datetime.timedelta(days=29)).isoformat(),
        "to": today().isoformat(),
    }
    assert len(body["daily"]) == 30


# --- who may ask --------------------------------------------------------------------------------------


def test_managers_see_their_merchant_only(ledger):
    assert client_for(ledger["manager"]).get(URL, PERIOD).status_code == 200
    zebra = client_for(ledger["b_owner"]).get(URL, PERIOD).json()
    assert zebra["visits"] == 2 and zebra["points"]["issued"] == 999
    assert [row["store"] for row in zebra["by_store"]] == ["zebra-main"]


def test_cashier_is_refused(ledger):
    response = client_for(ledger["cashier"]).get(URL, PERIOD)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_anonymous_is_401(ledger):
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code == 401


def test_own_store_inside_other_merchants_store_404(owner_api):
    assert owner_api.get(URL, {**PERIOD, "store": "main"}).status_code == 200
    response = owner_api.get(URL, {**PERIOD, "store": "zebra-main"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "store_not_found"


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params,code,words",
    [
        ({"from": "2026-01-20", "to": "2026-01-10"}, "invalid_period", "is after"),
        ({"from": "20/01/2026"}, "invalid_date", "YYYY-MM-DD"),
        ({"to": "2026-02-30"}, "invalid_date", "not a date"),
        ({"to": "2999-01-01"}, "date_in_future", "future"),
        ({"from": "2023-01-01", "to": "2026-01-01"}, "period_too_long", "at most 731 days"),
        ({"store": "nowhere"}, "unknown_store", "nowhere"),
    ],
)
def test_bad_input_is_a_400_that_says_why(owner_api, params, code, words):
    response = owner_api.get(URL, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert words in error["message"]
    assert set(error) == {"code", "message", "details"}
