import pytest

from tests.factories import ProgramFactory, StoreFactory

WELCOME_BONUS = 50


@pytest.fixture
def program(db):
    """A hybrid program with a welcome bonus, on an open merchant."""
    return ProgramFactory(
        welcome_bonus=WELCOME_BONUS,
        stamps_target=8,
        stamp_reward_description="A free coffee",
        background_color="#7c2d12",
        foreground_color="#fff7ed",
        logo_text="Demo Coffee",
    )


@pytest.fixture
def merchant(program):
    return program.merchant


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, code="main", name="Main street")


@pytest.fixture
def join_url(merchant):
    return f"/join/{merchant.slug}/"


def form_data(**overrides) -> dict:
    data = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "Ada.Lovelace@Example.com",
        "phone": "+33 6 12 34 56 78",
        "birth_date": "1990-05-17",
        "accept_terms": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}
