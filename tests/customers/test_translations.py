"""French ships compiled: every message of the .po is in the committed .mo (CI has no msgfmt)."""

import ast
import gettext
from pathlib import Path

from django.conf import settings

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
PO = LOCALE_DIR / "fr" / "LC_MESSAGES" / "django.po"
MO = LOCALE_DIR / "fr" / "LC_MESSAGES" / "django.mo"


def po_entries(path: Path) -> list[tuple[str, str | None, list[str]]]:
    """(msgid, msgid_plural, msgstrs) of each entry, continuation lines joined."""
    entries, current, key = [], None, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("msgid "):
            if current:
                entries.append(current)
            current, key = {"msgid": "", "msgid_plural": None, "msgstr": []}, "msgid"
            current["msgid"] = ast.literal_eval(line[6:])
        elif line.startswith("msgid_plural "):
            key = "msgid_plural"
            current["msgid_plural"] = ast.literal_eval(line[13:])
        elif line.startswith("msgstr"):
            key = "msgstr"
            current["msgstr"].append(ast.literal_eval(line.split(" ", 1)[1]))
        elif line.startswith('"') and current is not None:
            value = ast.literal_eval(line)
            if key == "msgstr":
                current["msgstr"][-1] += value
            else:
                current[key] += value
    if current:
        entries.append(current)
    return [(e["msgid"], e["msgid_plural"], e["msgstr"]) for e in entries if e["msgid"]]


def test_every_french_message_is_translated_and_compiled():
    entries = po_entries(PO)
    assert len(entries) > 50
    assert "#, fuzzy" not in PO.read_text(encoding="utf-8")
    with MO.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)
    for msgid, plural, msgstrs in entries:
        assert all(msgstrs), f"untranslated: {msgid!r}"
        if plural:
            assert catalog.ngettext(msgid, plural, 1) == msgstrs[0], f"not compiled: {msgid!r}"
            assert catalog.ngettext(msgid, plural, 2) == msgstrs[1], f"not compiled: {msgid!r}"
        else:
            assert catalog.gettext(msgid) == msgstrs[0], f"stale .mo, recompile: {msgid!r}"
