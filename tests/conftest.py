import pytest
from django.core.cache import cache

from tests.factories import ProgramFactory, StaffMemberFactory, StoreFactory, make_card


def pytest_configure(config):
    from config.celery import app

    # Tasks run inline in tests unless a test starts a real worker.
    app.conf.task_always_eager = True


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    try:
        cache.clear()
    except Exception:  # noqa: BLE001 - a test that stopped Redis; the next one restarts it
        pass


@pytest.fixture
def program(db):
    return ProgramFactory()


@pytest.fixture
def store(program):
    return StoreFactory(merchant=program.merchant, code="main")


@pytest.fixture
def cashier(store):
    return StaffMemberFactory(merchant=store.merchant, stores=[store])


@pytest.fixture
def manager(store):
    return StaffMemberFactory(merchant=store.merchant, stores=[store], role="manager")


@pytest.fixture
def card(program, store):
    return make_card(program=program, store=store)


@pytest.fixture
def wallet_on(settings):
    """Google Wallet switched on (its variables set), so balance changes nudge the worker.

    Only for tests that capture the after-commit callbacks without running them: nothing here
    answers for Google (tests/wallet/ has the loopback fake for that).
    """
    settings.LOYALTY_GOOGLE_SERVICE_ACCOUNT_JSON = "/nonexistent/service-account.json"
    settings.LOYALTY_GOOGLE_ISSUER_ID = "3388000000012345678"


@pytest.fixture
def browser():
    """A headless Chromium for one test (skipped with a reason when Chromium is absent)."""
    from tests.browser import chromium

    with chromium() as instance:
        yield instance
