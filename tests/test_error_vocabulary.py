"""One error vocabulary (core.errors.ErrorCode): the code raises, the handler answers, the schema
describes and the tests assert the same closed list of codes."""

import ast
from pathlib import Path

import pytest

from core.errors import ErrorCode, LoyaltyError, codes_answered_with
from loyalty.api.schema import describe

ROOT = Path(__file__).resolve().parent.parent
# Every package of the product (a new app is scanned without being listed here).
APPS = sorted(
    path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name not in {"tests", "bench", "deploy"}
)
# Calls whose first argument, or ``code=`` keyword, is a code a client receives.
RAISERS = {"LoyaltyError", "invalid", "conflict", "error_body", "_error"}


def codes_in_source() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name not in RAISERS:
                    continue
                arguments = [*node.args[:2], *(kw.value for kw in node.keywords if kw.arg == "code")]
                for argument in arguments:
                    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                        if argument.value.isidentifier() and argument.value.islower():
                            found.setdefault(argument.value, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_code_the_source_uses_is_in_the_vocabulary():
    found = codes_in_source()
    assert found, "the scan found no codes: the raisers were renamed"
    unknown = {code: paths for code, paths in found.items() if code not in ErrorCode.__members__.values()}
    assert not unknown, f"codes outside core.errors.ErrorCode: {unknown}"


def test_a_code_outside_the_vocabulary_fails_loudly():
    with pytest.raises(ValueError):
        LoyaltyError("made_up_code", "Nope.")


def test_the_status_comes_from_the_code_unless_given():
    assert LoyaltyError(ErrorCode.COOLDOWN_ACTIVE, "Wait.").status == 409
    assert LoyaltyError("pin_locked", "Locked.").status == 423
    assert LoyaltyError("card_not_found", "No.", status=404).status == 404


@pytest.mark.parametrize("status", sorted({code.status for code in ErrorCode if code.status != 500}))
def test_the_schema_describes_every_code_of_each_status(status):
    text = describe(status)
    for code in codes_answered_with(status):
        assert f"`{code}`" in text


def test_the_published_schema_carries_the_codes(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    text = str(schema)
    for code in (ErrorCode.COOLDOWN_ACTIVE, ErrorCode.PIN_LOCKED, ErrorCode.TOKEN_EXPIRED, ErrorCode.RATE_LIMITED):
        assert str(code) in text
