"""Helpers shared by tests: markers, running work on several connections at once, reading query plans' settings."""

import threading
from collections.abc import Callable
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection, connections

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

postgres_only = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="needs PostgreSQL (DATABASE_URL=postgres://…): SQLite has no row locks and one writer at a time",
)


def run_concurrently(jobs: list[Callable[[], object]]) -> list[object]:
    """Run each job in its own thread and database connection, all released at once.

    Returns each job's result or the exception it raised, in order.
    """
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def worker(index: int, job: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = job()
        except Exception as exc:  # noqa: BLE001 - reported to the test as a result
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@contextmanager
def plan_cache_modes(*tables: str):
    """The ``plan_cache_mode`` each query reading one of ``tables`` runs under (a list, filled as they run),
    on a connection first set to generic plans: what a busy one may have reached (core/plans.py)."""
    modes: list[str] = []

    def note(execute, sql, params, many, context):
        if any(f'"{table}"' in sql for table in tables):
            with context["connection"].connection.cursor() as raw:  # psycopg's own: no wrapper again
                raw.execute("SHOW plan_cache_mode")
                modes.append(raw.fetchone()[0])
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
    with connection.execute_wrapper(note):
        yield modes
