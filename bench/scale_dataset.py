"""Building the data set of bench/scale.py (what it looks like: bench/scale_plan.py).

Built once per database by ``build(spec)`` (bench/scale.py calls it in a process whose
DATABASE_URL names the database), skipped when the database already holds a finished build
(the row of ``bench_scale_build``).

How it is fast: the rows are computed by PostgreSQL (``COPY (SELECT … generate_series …) TO
STDOUT``, the ledger one window of 30 days at a time on two connections at once) and streamed by
psycopg into ``COPY … FROM STDIN (FORMAT binary, FREEZE)`` on a third, in the transaction that
truncated the tables, so the rows are written frozen and all-visible (no VACUUM needed for
index-only scans). That transaction runs with ``session_replication_role = replica`` (the
foreign-key triggers stay quiet: every id is consistent by construction), ``synchronous_commit =
off``, and without the secondary indexes of the customers, cards and ledger tables: they are
dropped first and recreated afterwards, two at a time with a large ``maintenance_work_mem``, from
their definitions in ``pg_indexes`` (the migrations' exact indexes come back; a unique one that
failed to build would reveal a duplicate). Then ANALYZE, a set-based balance check
(``verify_ledger``'s rule) and ``rebuild_insights`` for every merchant (followed by a VACUUM
ANALYZE of the roll-up's tables, as autovacuum would).
"""

import datetime
import json
import os
import queue
import random
import threading
import time

from scale_plan import (
    CYCLE_LENGTH,
    CYCLE_VARIANTS,
    DAY,
    EMAIL_DOMAINS,
    EXPIRY_DAYS,
    FIRST_NAMES,
    HEAVY_ROWS,
    LAST_NAMES,
    PLAN_COLUMNS,
    STAMPS_TARGET,
    WELCOME_BONUS,
    Cycle,
    DatasetSpec,
    MerchantRows,
    MerchantSpec,
    make_cycle,
    plan_merchant,
)

LEDGER_WINDOW_DAYS = 30  # one generator query (sorted in memory) per window of history
PLAN_TABLE, CYCLE_TABLE, MERCHANT_TABLE, MARKER_TABLE = (
    "bench_scale_plan",
    "bench_scale_cycle",
    "bench_scale_merchant",
    "bench_scale_build",
)
LOADED_TABLES = ["customers_customer", "loyalty_loyaltycard", "loyalty_loyaltytransaction"]


# --- the generators (run by PostgreSQL) -----------------------------------------------------------

CUSTOMER_COLUMNS = (
    "id, merchant_id, first_name, last_name, email, phone, birth_date, terms_accepted_at, marketing_opt_in, "
    "email_opt_out, preferred_language, created_at, updated_at"
)
CUSTOMERS_SQL = f"""
    SELECT p.id, p.merchant_id, f.first_name::varchar, f.last_name::varchar,
           translate(lower(CASE (f.h / 7) %% 3
                             WHEN 0 THEN f.first_name || '.' || f.last_name || p.id
                             WHEN 1 THEN left(f.first_name, 1) || f.last_name || '.' || p.id
                             ELSE f.last_name || '_' || f.first_name || p.id END
                           || '@' || (%(domains)s::text[])[1 + (f.h / 11) %% cardinality(%(domains)s::text[])]),
                     'éèëïç', 'eeeic')::varchar,
           (CASE WHEN f.h %% 20 = 0 THEN ''
                 ELSE '+33' || CASE WHEN f.h %% 10 = 1 THEN '7' ELSE '6' END
                      || lpad(((p.id * 48271 + 23456789) %% 100000000)::text, 8, '0') END)::varchar,
           CASE WHEN f.h %% 12 = 0 THEN NULL ELSE DATE '1945-01-01' + ((f.h / 17) %% 22000)::int END,
           to_timestamp(p.t0), (f.h / 23) %% 10 < 4, (f.h / 29) %% 40 = 0,
           (CASE WHEN (f.h / 19) %% 4 = 0 THEN 'en' ELSE 'fr' END)::varchar, to_timestamp(p.t0), to_timestamp(p.t0)
    FROM {PLAN_TABLE} p
    CROSS JOIN LATERAL (
        SELECT h, (%(first)s::text[])[1 + h %% cardinality(%(first)s::text[])] AS first_name,
               (%(last)s::text[])[1 + (h / 101) %% cardinality(%(last)s::text[])] AS last_name
        FROM (SELECT (p.id * 2654435761) %% 4294967296 AS h) AS hashed
    ) AS f
    ORDER BY p.id
"""
CARD_COLUMNS = (
    "id, merchant_id, customer_id, program_id, enrolled_at_store_id, card_number, qr_code_data, stamp_count, "
    "lifetime_stamps, rewards_redeemed, points_balance, lifetime_points_earned, lifetime_points_redeemed, "
    "lifetime_points_voided, google_object_id, apple_serial_number, apple_auth_token, last_stamp_at, "
    "last_points_at, last_redemption_at, last_activity_at, is_active, deleted_at, created_at, updated_at, "
    "google_notices"
)
# Card numbers: 12 digits, a bijection of the id (multiplier prime to 10), so unique and random-looking.
CARDS_SQL = f"""
    SELECT p.id, p.merchant_id, p.id, p.program_id, p.store_id,
           (substr(d, 1, 4) || '-' || substr(d, 5, 4) || '-' || substr(d, 9, 4))::varchar,
           translate(encode(substring(sha256(convert_to(%(seed)s || ':qr:' || p.id, 'UTF8')) FROM 1 FOR 24),
                            'base64'), '+/', '-_')::varchar,
           p.stamp_count, p.lifetime_stamps, p.rewards_redeemed, p.points_balance, p.lifetime_earned,
           p.lifetime_redeemed, p.lifetime_voided, ''::varchar, md5(%(seed)s || ':serial:' || p.id)::varchar,
           rtrim(translate(encode(sha256(convert_to(%(seed)s || ':auth:' || p.id, 'UTF8')), 'base64'), '+/', '-_'),
                 '=')::varchar,
           to_timestamp(p.last_stamp_at), to_timestamp(p.last_points_at), to_timestamp(p.last_redemption_at),
           to_timestamp(p.t1), NOT (p.inactive OR p.deleted_at IS NOT NULL), to_timestamp(p.deleted_at),
           to_timestamp(p.t0), to_timestamp(p.updated_at), '{{}}'::jsonb
    FROM {PLAN_TABLE} p
    CROSS JOIN LATERAL (SELECT lpad(((p.id * 600851475143 + 104729) %% 1000000000000)::text, 12, '0') AS d) AS n
    ORDER BY p.id
"""
LEDGER_COLUMNS = (
    "card_id, merchant_id, store_id, staff_user_id, type, stamps_delta, points_delta, stamps_after, "
    "points_after, purchase_amount, order_reference, reason, idempotency_key, created_at"
)
# The rows of one window of history [a, b): each card's rows i = 0..n-1 at t0 + i steps (jittered),
# plus the final expiry of an expired card (i = n), in time order (the table's identity gives the ids).
LEDGER_SQL = f"""
    WITH spans AS (
        SELECT p.id AS card_id, p.merchant_id, p.store_id AS home, p.variant, p.mult, p.n, p.stamp_count,
               p.points_before_expiry, p.t0, p.t1, (p.t1 - p.t0) / greatest(p.n - 1, 1) AS step
        FROM {PLAN_TABLE} p
        WHERE p.t0 < %(b)s::float8 AND p.t1 >= %(a)s::float8
    ), timed AS (
        SELECT r.card_id, r.merchant_id, r.home, r.variant, r.mult, r.n, r.stamp_count, r.points_before_expiry, r.i,
               CASE WHEN r.i = 0 THEN r.t0
                    WHEN r.i = r.n - 1 THEN r.t1
                    ELSE r.t0 + r.step * (r.i - 0.45::float8
                                          + 0.9::float8 * ((r.card_id * 7919 + r.i * 104729) %% 1000) / 1000)
               END AS ts
        FROM (
            SELECT s.*, generate_series(
                       CASE WHEN s.n = 1 THEN 0 ELSE greatest(0, floor((%(a)s::float8 - s.t0) / s.step)::int - 1) END,
                       CASE WHEN s.n = 1 THEN 0 ELSE least(s.n - 1, ceil((%(b)s::float8 - s.t0) / s.step)::int + 1) END
                   ) AS i
            FROM spans s
        ) AS r
        UNION ALL
        SELECT p.id, p.merchant_id, p.store_id, p.variant, p.mult, p.n, p.stamp_count, p.points_before_expiry,
               p.n, p.te
        FROM {PLAN_TABLE} p WHERE p.expired AND p.te >= %(a)s::float8 AND p.te < %(b)s::float8
    ), shaped AS (
        SELECT t.card_id, t.merchant_id, t.i, t.ts, h,
               CASE WHEN t.i = 0 THEN 'welcome_bonus' WHEN t.i = t.n THEN 'points_expire' ELSE c.type END AS type,
               CASE WHEN t.i = 0 OR t.i = t.n THEN 0 ELSE c.stamps_delta END AS stamps_delta,
               CASE WHEN t.i = 0 THEN {WELCOME_BONUS} WHEN t.i = t.n THEN -t.points_before_expiry
                    ELSE c.points_delta * t.mult END AS points_delta,
               CASE WHEN t.i = 0 THEN 0 WHEN t.i = t.n THEN t.stamp_count
                    ELSE (t.i - 1) / {CYCLE_LENGTH} * c.cycle_stamps + c.stamps_after END AS stamps_after,
               CASE WHEN t.i = 0 THEN {WELCOME_BONUS} WHEN t.i = t.n THEN 0
                    ELSE {WELCOME_BONUS} + t.mult * ((t.i - 1) / {CYCLE_LENGTH} * c.cycle_points + c.points_after)
               END AS points_after,
               t.home, m.stores, m.staff, m.managers
        FROM timed t
        CROSS JOIN LATERAL (SELECT (t.card_id * 7919 + t.i * 104729) %% 1000003 AS h) AS hashed
        JOIN {MERCHANT_TABLE} m ON m.merchant_id = t.merchant_id
        LEFT JOIN {CYCLE_TABLE} c ON c.variant = t.variant AND c.pos = (t.i - 1) %% {CYCLE_LENGTH} AND t.i > 0
        WHERE t.ts >= %(a)s::float8 AND t.ts < %(b)s::float8
    )
    SELECT s.card_id, s.merchant_id,
           CASE WHEN s.type = 'points_expire' THEN NULL
                WHEN s.i = 0 OR s.h %% 10 < 7 THEN s.home
                ELSE s.stores[1 + s.h %% cardinality(s.stores)] END,
           CASE WHEN s.i = 0 OR s.type = 'points_expire' THEN NULL
                WHEN s.type = 'points_adjust' THEN s.managers[1 + s.h %% cardinality(s.managers)]
                ELSE s.staff[1 + s.h %% cardinality(s.staff)] END,
           s.type::varchar, s.stamps_delta, s.points_delta, s.stamps_after, s.points_after,
           CASE WHEN s.type = 'points_earn' THEN (s.points_delta + (s.h %% 100) / 100.0)::numeric(10, 2) END,
           ''::varchar,
           (CASE s.type WHEN 'points_adjust' THEN 'Goodwill gesture' WHEN 'points_void' THEN 'Wrong amount'
                        WHEN 'points_expire' THEN 'No activity for {EXPIRY_DAYS} days' ELSE '' END)::varchar,
           ''::varchar, to_timestamp(s.ts)
    FROM shaped s
    ORDER BY s.ts, s.card_id, s.i
"""


# --- connections, progress -----------------------------------------------------------------------


def connect(autocommit: bool = False):
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    keep = {k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")}
    return psycopg.connect(**keep, autocommit=autocommit)


class Progress:
    def __init__(self, what: str, total: int):
        self.what, self.total, self.done = what, total, 0
        self.started = self.shown = time.perf_counter()

    def add(self, rows: int, force: bool = False) -> None:
        self.done += rows
        now = time.perf_counter()
        if force or now - self.shown >= 5 or self.done >= self.total:
            self.shown = now
            elapsed = now - self.started
            rate = self.done / elapsed if elapsed else 0
            eta = (self.total - self.done) / rate if rate else 0
            print(
                f"  {self.what}: {self.done:,} / {self.total:,} ({self.done / self.total:.0%}) "
                f"{rate:,.0f} rows/s, {elapsed:.0f} s, ETA {eta:.0f} s",
                flush=True,
            )


def pump(source, target, select_sql: str, params: dict, table: str, columns: str) -> int:
    """COPY the rows PostgreSQL computes on `source` into `table` on `target` (binary, frozen)."""
    with (
        source.cursor() as read_cursor,
        read_cursor.copy(f"COPY ({select_sql}) TO STDOUT (FORMAT BINARY)", params) as out,
    ):
        with target.cursor() as write_cursor:
            with write_cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY, FREEZE)") as into:
                for data in out:
                    into.write(data)
            return write_cursor.rowcount


# --- the build ------------------------------------------------------------------------------------


def marker() -> dict | None:
    """The finished build's facts, or None when this database holds no finished build."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT facts FROM {MARKER_TABLE} ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    if row is None:
        return None
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])


def build(spec: DatasetSpec, *, seed: int = 18) -> dict:
    """Make the data set in this (freshly migrated, empty) database; returns the marker's facts."""
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    timings = {}
    rng = random.Random(seed)
    now = float(int(time.time()))
    print(
        f"[{spec.name}] building {spec.cards:,} cards and {spec.rows:,} ledger rows over {len(spec.merchants)} "
        f"merchant(s) in {spec.database}",
        flush=True,
    )
    merchants = {m.slug: _make_merchant(m) for m in spec.merchants}
    cycles = [make_cycle(random.Random(seed * 1000 + v)) for v in range(CYCLE_VARIANTS)]
    _write_helper_tables(merchants, cycles)

    step = time.perf_counter()
    heavy_ids = {}
    with connect() as conn:
        with conn.cursor() as cursor, cursor.copy(f"COPY {PLAN_TABLE} FROM STDIN") as copy:
            first_id = 1
            for m in spec.merchants:
                for row in plan_merchant(rng, m, merchants[m.slug], first_id, now, cycles):
                    copy.write_row(row)
                    if row[-1]:
                        heavy_ids[m.slug] = row[0]
                first_id += m.cards
        conn.execute(f"ANALYZE {PLAN_TABLE}")
    timings["plan"] = time.perf_counter() - step
    print(f"  plan of {spec.cards:,} cards computed in {timings['plan']:.1f} s", flush=True)

    step = time.perf_counter()
    indexes = _load(spec, now, seed)
    timings["load"] = time.perf_counter() - step

    step = time.perf_counter()
    _create_indexes(indexes)
    timings["indexes"] = time.perf_counter() - step

    step = time.perf_counter()
    with connect(autocommit=True) as conn:
        for table in LOADED_TABLES:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("SET maintenance_work_mem = '512MB'")
        for table in LOADED_TABLES:
            conn.execute(f"ANALYZE {table}")
        conn.execute("ANALYZE")
    timings["analyze"] = time.perf_counter() - step
    print(f"  sequences set, ANALYZE done in {timings['analyze']:.1f} s", flush=True)

    step = time.perf_counter()
    main_id = merchants[spec.main.slug].merchant_id
    check = _check(main_id, merchants[spec.main.slug].program_id, now)
    timings["check"] = time.perf_counter() - step
    print(
        f"  check of {spec.main.slug}: {check['cards_off_balance']} card(s) differ from their ledger, "
        f"{check['due']:,} due for expiry, mix {check['mix']} ({timings['check']:.1f} s)",
        flush=True,
    )
    if check["cards_off_balance"]:
        raise SystemExit("the data set's balances do not match its ledger: a bug in bench/scale_dataset.py")

    step = time.perf_counter()
    # Every merchant: on a first run (the job's marks at 0) only this moves the marks; ``--merchant`` would
    # leave them at 0 and the measuring's minute job would then roll up the whole ledger (a timeout).
    call_command("rebuild_insights")
    timings["rebuild_insights"] = time.perf_counter() - step
    print(f"  rebuild_insights (every merchant): {timings['rebuild_insights']:.1f} s", flush=True)
    step = time.perf_counter()
    with connect(autocommit=True) as conn:  # what autovacuum would do after so many inserts
        for table in ("insights_ledgerday", "insights_cardvisits"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
    timings["analyze"] += time.perf_counter() - step

    with connection.cursor() as cursor:
        for table in (PLAN_TABLE, CYCLE_TABLE, MERCHANT_TABLE):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute("SELECT card_number FROM loyalty_loyaltycard WHERE id = %s", [heavy_ids.get(spec.main.slug)])
        heavy_number = cursor.fetchone()[0]
    timings["total"] = time.perf_counter() - started
    facts = {
        "dataset": spec.name,
        **spec.describe(),
        "seed": seed,
        "built_at": datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat(),
        "clock": now,
        "expiry_days": EXPIRY_DAYS,
        "due": check["due"],
        "mix": check["mix"],
        "heavy_card": heavy_number,
        "heavy_rows": HEAVY_ROWS,
        "seconds": {name: round(value, 1) for name, value in timings.items()},
    }
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (id serial PRIMARY KEY, facts jsonb NOT NULL)")
        cursor.execute(f"INSERT INTO {MARKER_TABLE} (facts) VALUES (%s)", [json.dumps(facts)])
    print(f"[{spec.name}] built in {timings['total']:.0f} s: {json.dumps(facts['seconds'])}", flush=True)
    return facts


def _make_merchant(spec: MerchantSpec) -> MerchantRows:
    from django.contrib.auth import get_user_model

    from loyalty.models import LoyaltyProgram, Reward
    from merchants.models import Merchant, StaffMember, Store

    merchant = Merchant.objects.create(slug=spec.slug, name=spec.name, contact_email=f"owner@{spec.slug}.example")
    stores = [Store.objects.create(merchant=merchant, code=f"shop-{k + 1}", name=f"Shop {k + 1}") for k in
              range(spec.stores)]  # fmt: skip
    program = LoyaltyProgram.objects.create(
        merchant=merchant,
        name="Fidélité",
        kind=LoyaltyProgram.Kind.HYBRID,
        stamps_target=STAMPS_TARGET,
        welcome_bonus=WELCOME_BONUS,
        points_expiry_days=EXPIRY_DAYS,
    )
    for name, cost in (("Croissant", 100), ("Coffee and cake", 250), ("Brunch", 500)):
        Reward.objects.create(program=program, name=name, points_cost=cost)
    Reward.objects.create(program=program, name="Cookie", stamps_cost=5)
    users = get_user_model().objects
    staff, managers = [], []
    roles = [("owner", 1), ("manager", spec.managers), ("cashier", spec.cashiers)]
    for role, count in roles:
        for k in range(count):
            user = users.create(
                username=f"{spec.slug}-{role}" + (f"-{k + 1}" if role != "owner" else ""),
                email=f"{role}{k + 1}@{spec.slug}.example",
                is_staff=role != "cashier",
            )
            user.set_unusable_password()
            user.save(update_fields=["password"])
            member = StaffMember.objects.create(user=user, merchant=merchant, role=role)
            member.stores.set(stores if role != "cashier" else [stores[k % len(stores)]])
            staff.append(user.pk)
            if role != "cashier":
                managers.append(user.pk)
    return MerchantRows(merchant.pk, program.pk, [s.pk for s in stores], staff, managers)


def _write_helper_tables(merchants: dict[str, MerchantRows], cycles: list[Cycle]) -> None:
    with connect() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {PLAN_TABLE}, {CYCLE_TABLE}, {MERCHANT_TABLE}")
        conn.execute(f"CREATE UNLOGGED TABLE {PLAN_TABLE} ({PLAN_COLUMNS})")
        conn.execute(
            f"CREATE UNLOGGED TABLE {CYCLE_TABLE} (variant int, pos int, type text, stamps_delta int, "
            "points_delta int, stamps_after int, points_after int, cycle_stamps int, cycle_points int, "
            "PRIMARY KEY (variant, pos))"
        )
        conn.execute(
            f"CREATE UNLOGGED TABLE {MERCHANT_TABLE} (merchant_id bigint PRIMARY KEY, stores bigint[], "
            "staff int[], managers int[])"
        )
        with conn.cursor() as cursor:
            for variant, cycle in enumerate(cycles):
                for pos, (kind, stamps, points) in enumerate(cycle.rows):
                    cursor.execute(
                        f"INSERT INTO {CYCLE_TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        [
                            variant,
                            pos,
                            kind,
                            stamps,
                            points,
                            cycle.stamps_after[pos + 1],
                            cycle.points_after[pos + 1],
                            cycle.stamps_after[-1],
                            cycle.points_after[-1],
                        ],
                    )
            for rows in merchants.values():
                cursor.execute(
                    f"INSERT INTO {MERCHANT_TABLE} VALUES (%s, %s, %s, %s)",
                    [rows.merchant_id, rows.store_ids, rows.staff_ids, rows.manager_ids],
                )


def _secondary_indexes(cursor) -> list[tuple[str, str, str]]:
    """(table, name, definition) of the loaded tables' indexes that back no constraint (not the
    primary keys nor the UNIQUE constraints; the unique *indexes* are included)."""
    cursor.execute(
        """
        SELECT i.tablename, i.indexname, i.indexdef
        FROM pg_indexes i
        JOIN pg_class c ON c.relname = i.indexname AND c.relkind = 'i'
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname
        WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)
        ORDER BY i.tablename, i.indexname
        """,
        [LOADED_TABLES],
    )
    return cursor.fetchall()


def _load(spec: DatasetSpec, now: float, seed: int) -> list[tuple[str, str, str]]:
    """Truncate, drop the secondary indexes, COPY FREEZE customers, cards and the ledger; one transaction."""
    with connect() as target, connect(autocommit=True) as source:
        source.execute("SET work_mem = '256MB'")
        target.execute("SET session_replication_role = replica")
        target.execute("SET synchronous_commit = off")
        target.execute(f"TRUNCATE {', '.join(LOADED_TABLES)} CASCADE")
        with target.cursor() as cursor:
            indexes = _secondary_indexes(cursor)
            for _, name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
        print(f"  dropped {len(indexes)} secondary indexes (recreated after the load)", flush=True)
        names = {"first": FIRST_NAMES, "last": LAST_NAMES, "domains": EMAIL_DOMAINS}
        for what, sql, table, columns, params in (
            ("customers", CUSTOMERS_SQL, "customers_customer", CUSTOMER_COLUMNS, names),
            ("cards", CARDS_SQL, "loyalty_loyaltycard", CARD_COLUMNS, {"seed": f"scale{seed}"}),
        ):
            step = time.perf_counter()
            count = pump(source, target, sql, params, table, columns)
            elapsed = time.perf_counter() - step
            print(f"  {what}: {count:,} rows in {elapsed:.1f} s ({count / elapsed:,.0f} rows/s)", flush=True)
        progress = Progress("ledger", spec.rows)
        loaded = 0
        with target.cursor() as cursor:
            for blob in _ledger_windows(now):
                with cursor.copy(
                    f"COPY loyalty_loyaltytransaction ({LEDGER_COLUMNS}) FROM STDIN (FORMAT BINARY, FREEZE)"
                ) as into:
                    into.write(blob)
                loaded += cursor.rowcount
                progress.add(cursor.rowcount)
        if loaded != spec.rows:
            raise SystemExit(f"the ledger has {loaded:,} rows, {spec.rows:,} were planned: a bug in the builder")
        step = time.perf_counter()
        target.commit()
        print(f"  committed in {time.perf_counter() - step:.1f} s", flush=True)
    return indexes


def _ledger_windows(now: float, generators: int = 2, ahead: int = 4):
    """The ledger's windows of history in order, each as one binary COPY stream, computed by
    `generators` connections at once (at most `ahead` windows held in memory)."""
    windows = []
    start = now - 731 * DAY
    while start < now + 1:
        windows.append((start, start + LEDGER_WINDOW_DAYS * DAY))
        start += LEDGER_WINDOW_DAYS * DAY
    done: dict[int, bytes | BaseException] = {}
    ready = threading.Condition()
    room = threading.Semaphore(ahead)
    todo = iter(range(len(windows)))
    lock = threading.Lock()

    def generate() -> None:
        with connect(autocommit=True) as source:
            source.execute("SET work_mem = '512MB'")
            source.execute("SET jit = off")
            source.execute("SET max_parallel_workers_per_gather = 0")
            while True:
                with lock:
                    index = next(todo, None)
                if index is None:
                    return
                room.acquire()
                a, b = windows[index]
                try:
                    chunks = []
                    with source.cursor() as cursor:
                        with cursor.copy(f"COPY ({LEDGER_SQL}) TO STDOUT (FORMAT BINARY)", {"a": a, "b": b}) as out:
                            for data in out:
                                chunks.append(bytes(data))
                    result: bytes | BaseException = b"".join(chunks)
                except BaseException as exc:  # noqa: BLE001 - handed to the loading thread
                    result = exc
                with ready:
                    done[index] = result
                    ready.notify_all()

    threads = [threading.Thread(target=generate, daemon=True) for _ in range(generators)]
    for thread in threads:
        thread.start()
    for index in range(len(windows)):
        with ready:
            ready.wait_for(lambda index=index: index in done)
            result = done.pop(index)
        if isinstance(result, BaseException):
            raise result
        yield result
        room.release()
    for thread in threads:
        thread.join()


def _create_indexes(indexes: list[tuple[str, str, str]]) -> None:
    """Recreate the dropped indexes, two sessions at a time, the ledger's (largest) first."""
    size = {"loyalty_loyaltytransaction": 0, "loyalty_loyaltycard": 1, "customers_customer": 2}
    work: queue.Queue = queue.Queue()
    for item in sorted(indexes, key=lambda item: size.get(item[0], 3)):
        work.put(item)
    started = time.perf_counter()
    errors = []

    def worker() -> None:
        with connect(autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET max_parallel_maintenance_workers = 1")
            while True:
                try:
                    table, name, definition = work.get_nowait()
                except queue.Empty:
                    return
                step = time.perf_counter()
                try:
                    conn.execute(definition)
                except Exception as exc:  # noqa: BLE001 - reported once all are done
                    errors.append(f"{name}: {exc}")
                    continue
                print(
                    f"  index {name} on {table}: {time.perf_counter() - step:.1f} s "
                    f"({len(indexes) - work.qsize()}/{len(indexes)}, {time.perf_counter() - started:.0f} s)",
                    flush=True,
                )

    threads = [threading.Thread(target=worker) for _ in range(min(2, os.cpu_count() or 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit("recreating the indexes failed:\n  " + "\n  ".join(errors))
    print(f"  {len(indexes)} indexes recreated in {time.perf_counter() - started:.0f} s", flush=True)


def _check(merchant_id: int, program_id: int, now: float) -> dict:
    """Balances against the sum of the ledger (set-based ``verify_ledger``), due cards, row mix."""
    with connect(autocommit=True) as conn:
        conn.execute("SET work_mem = '512MB'")
        off = conn.execute(
            """
            SELECT count(*) FROM loyalty_loyaltycard c
            LEFT JOIN (SELECT card_id, sum(points_delta) AS points, sum(stamps_delta) AS stamps
                       FROM loyalty_loyaltytransaction WHERE merchant_id = %(m)s GROUP BY card_id) l
                   ON l.card_id = c.id
            WHERE c.merchant_id = %(m)s
              AND (c.points_balance <> coalesce(l.points, 0) OR c.stamp_count <> coalesce(l.stamps, 0))
            """,
            {"m": merchant_id},
        ).fetchone()[0]
        due = conn.execute(
            """
            SELECT count(*) FROM loyalty_loyaltycard
            WHERE program_id = %s AND points_balance > 0 AND deleted_at IS NULL
              AND last_activity_at < to_timestamp(%s) - make_interval(days => %s)
            """,
            [program_id, now, EXPIRY_DAYS],
        ).fetchone()[0]
        mix = conn.execute(
            """
            SELECT type, count(*) FROM loyalty_loyaltytransaction TABLESAMPLE SYSTEM (2)
            WHERE merchant_id = %s GROUP BY type
            """,
            [merchant_id],
        ).fetchall()
    total = sum(n for _, n in mix) or 1
    return {
        "cards_off_balance": off,
        "due": due,
        "mix": {kind: round(n / total, 3) for kind, n in sorted(mix, key=lambda r: -r[1])},
    }
