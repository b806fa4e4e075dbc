"""Queries planned for the values they run with.

psycopg prepares a statement at its 5th run on a connection (config/settings.py), and after 5 more
runs PostgreSQL may keep a generic plan for it, made without the values. That saves planning on the
POS's small queries. A query whose best plan depends on its values, a name search or a year of
insights, ran 1.5-3x slower on it at 500,000 cards (README, "Scale"). Inside ``planned_for_values()``
PostgreSQL plans each statement for its values again (``plan_cache_mode = force_custom_plan``, for
the transaction it opens). Usable as a decorator; a no-op on SQLite.
"""

from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def planned_for_values():
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        yield
