"""The ``passesUpdatedSince`` / ``lastUpdated`` tags of the PassKit web service.

A tag is the card's ``updated_at`` as whole microseconds since the Unix epoch, as a
string. ``updated_at`` is timezone-aware (UTC in the database), so a tag means the same
instant on both sides of a DST change, and comparing instants keeps every pass updated
after the tag, not only the newest.
"""

import datetime
import re

# ASCII digits only ('²'.isdigit() is true and int() refuses it), and no more than a microsecond
# count can have (int() refuses 4,300 digits; datetime overflows long before 20).
TAG = re.compile(r"[0-9]{1,20}")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
MICROSECOND = datetime.timedelta(microseconds=1)


def update_tag(moment: datetime.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("update tags are made from timezone-aware datetimes only")
    return str((moment - EPOCH) // MICROSECOND)


def parse_update_tag(tag: str | None) -> datetime.datetime | None:
    """The instant a tag stands for; None when absent or not one of ours (then: every pass).

    Apple's semantics: a device that sends a tag we did not give it (garbage, another
    server's) gets every pass it is registered for, as a device that sends none.
    """
    if not tag or not TAG.fullmatch(tag.strip()):
        return None
    try:
        return EPOCH + int(tag.strip()) * MICROSECOND
    except OverflowError:
        return None
