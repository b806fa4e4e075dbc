"""The data set of bench/scale.py: merchants, customers, cards and a ledger whose balances add up.

Built once per database by ``build(spec)`` (bench/scale.py calls it in a process whose
DATABASE_URL names the database), skipped when the database already holds a finished build
(the row of ``bench_scale_build``). The shape, the same for every size:

* Every card belongs to its own customer (a realistic, unique, lower-case email; an E.164 phone
  ``+336…``/``+337…``, unique within the merchant; a name; a birth date) and carries a card number
  and QR token in the product's formats (``1234-5678-9012``; 32 URL-safe characters).
* Each card's ledger starts with its welcome bonus (50 points, as ``issue_card`` writes it) and
  follows one of 16 cycles of 98 rows with the row mix of bench/insights.py (stamps 40, earns 38,
  point redemptions 7, stamp rewards 5, voids 4, adjustments 2, partial expiries 2). A cycle
  never takes a balance below zero and, with the rows' ``stamps_after``/``points_after``, is
  known in closed form, so ``stamp_count``/``points_balance`` equal the sum of the card's deltas
  (what ``verify_ledger`` checks) without reading the ledger back. A card's rows are spread
  evenly (with jitter) between its enrollment and its last activity, at most two a day; row
  counts follow an exponential law (mean ~20), and one "heavy" card per measured merchant has
  12,000 rows (the transactions list's page 500).
* 730 days of history. 20 % of each merchant's cards are due for the nightly expiry (points
  and no activity for 365 days, at the build's clock), exactly; another share of the old cards
  was expired already (a final ``points_expire`` row took their points a year after their last
  visit); the rest were active in the last 364 days. 1 % of cards are deleted, 1 % deactivated.
* The ledger is written in time order (ids grow with ``created_at``), so a card's rows are
  scattered over the table as they are in production.

How it is fast: the rows are computed by PostgreSQL (``COPY (SELECT … generate_series …) TO
STDOUT`` on one connection) and streamed by psycopg into ``COPY … FROM STDIN (FORMAT binary,
FREEZE)`` on another, in the transaction that truncated the tables, so the rows are written
frozen and all-visible (no VACUUM needed for index-only scans) and two backends share the work.
That transaction runs with ``session_replication_role = replica`` (the foreign-key triggers
stay quiet: every id is made consistent by construction), ``synchronous_commit = off``, and
without the secondary indexes of the customers, cards and ledger tables: they are dropped first
and recreated afterwards, two at a time, from their definitions in ``pg_indexes`` (the
migrations' exact indexes come back; a unique one that fails to build would reveal a duplicate).
Then ANALYZE, a set-based balance check, and ``rebuild_insights`` for the measured merchant.
"""

import dataclasses
import datetime
import json
import math
import os
import queue
import random
import threading
import time

DAY = 86400.0
WELCOME_BONUS = 50
STAMPS_TARGET = 8  # 40 stamps and 5 stamp rewards per 98 rows: the stamp count comes back to zero
EXPIRY_DAYS = 365
HEAVY_ROWS = 12_000
DUE_SHARE = 0.20
CYCLE_LENGTH = 98
CYCLE_VARIANTS = 16
# bench/insights.py's MIX in rows per 98 (its 2 % of welcome bonuses are each card's first row here).
CYCLE_MIX = [
    ("stamp", 40),
    ("points_earn", 38),
    ("points_redeem", 7),
    ("stamp_redeem", 5),
    ("points_void", 4),
    ("points_adjust", 2),
    ("points_expire", 2),
]
LEDGER_WINDOW_DAYS = 30  # one generator query (sorted in memory) per window of history
PLAN_TABLE, CYCLE_TABLE, MERCHANT_TABLE, MARKER_TABLE = (
    "bench_scale_plan",
    "bench_scale_cycle",
    "bench_scale_merchant",
    "bench_scale_build",
)
LOADED_TABLES = ["customers_customer", "loyalty_loyaltycard", "loyalty_loyaltytransaction"]

FIRST_NAMES = (
    "Adam Alice Antoine Camille Chloé Clara Emma Enzo Gabriel Hugo Inès Jade Jules Julie Léa Léo Louis Louise "
    "Lucas Manon Marie Mathis Maël Nathan Noah Nina Paul Pierre Raphaël Rose Sarah Sofia Thomas Tom Zoé Anna "
    "Ethan Eva Lina Lou Mila Nolan Romane Sacha Théo Victor Yanis Ambre Arthur Axel Céline Elise Fatima Karim "
    "Mohamed Nadia Olivier Sophie Yasmine David"
).split()
LAST_NAMES = (
    "Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel Lefebvre Leroy Roux "
    "David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau Vincent Muller Lefevre Faure "
    "Andre Mercier Blanc Guerin Boyer Garnier Chevalier Francois Legrand Gauthier Garcia Perrin Robin Clement "
    "Morin Nicolas Henry Roussel Mathieu Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noel Meyer "
    "Dufour Meunier Brun Blanchard Giraud Joly Riviere Lucas Brunet Gaillard Barbier Arnaud Martinez Gerard "
    "Roche Renard Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine Renaud Dumas Lacroix "
    "Olivier Philippe Bourgeois Pierre Benoit Rey Leclerc Payet Rolland Leclercq Guillaume Lecomte Lopez Jean "
    "Dupuy Guillot Hubert Berger Carpentier Sanchez Dupuis Moulin Louis Deschamps Huet Vasseur Perez Boucher "
    "Fleury Royer Klein Jacquet Adam Paris Poirier Marty Aubry Guyot Carre Charles Renault Charpentier Menard "
    "Maillard Baron Bertin Bailly Herve Schneider Fernandez Collet Leger Bouvier Julien Prevost Millet Perrot "
    "Daniel Cousin Germain Breton Besson Langlois Remy Pelletier Leveque Perrier Leblanc Barre Lebrun Marchal "
    "Weber Mallet Hamon Boulanger Jacob Monnier Michaud Rodriguez Guichard Gillet Etienne Grondin Poulain "
    "Tessier Chevallier Collin Chauvin Bouchet Gay Lemaitre Benard Marechal Humbert Reynaud Antoine Hoarau"
).split()
EMAIL_DOMAINS = "gmail.com orange.fr free.fr hotmail.fr yahoo.fr outlook.fr laposte.net sfr.fr icloud.com".split()


@dataclasses.dataclass(frozen=True)
class MerchantSpec:
    slug: str
    name: str
    cards: int
    rows: int
    stores: int
    managers: int
    cashiers: int
    heavy: bool = False  # one card with HEAVY_ROWS rows (the measured merchants)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str  # "big" or "small"
    database: str
    main: MerchantSpec  # the measured merchant
    others: tuple[MerchantSpec, ...] = ()

    @property
    def merchants(self) -> tuple[MerchantSpec, ...]:
        return (self.main, *self.others)

    @property
    def cards(self) -> int:
        return sum(m.cards for m in self.merchants)

    @property
    def rows(self) -> int:
        return sum(m.rows for m in self.merchants)

    def describe(self) -> dict:
        return {
            "cards": self.cards,
            "rows": self.rows,
            "merchants": len(self.merchants),
            "main": dataclasses.asdict(self.main),
        }


def big_dataset(database: str) -> DatasetSpec:
    """1,000,000 cards and 20,000,000 rows over 50 merchants; bench-scale-big holds half of each."""
    main = MerchantSpec("bench-scale-big", "Scale Bakery (500k cards)", 500_000, 10_000_000, 6, 2, 12, heavy=True)
    weights = [1 / (k + 1) ** 0.7 for k in range(49)]
    cards_left, rows_left, others = 500_000, 10_000_000, []
    for k, weight in enumerate(weights):
        if k == len(weights) - 1:
            cards = cards_left
        else:
            cards = max(1_000, round(500_000 * weight / sum(weights)))
        rows = rows_left if k == len(weights) - 1 else cards * 20
        cards_left, rows_left = cards_left - cards, rows_left - rows
        others.append(MerchantSpec(f"bench-scale-{k + 1:02d}", f"Scale shop {k + 1:02d}", cards, rows, 3, 1, 4))
    return DatasetSpec("big", database, main, tuple(others))


def small_dataset(database: str) -> DatasetSpec:
    """The comparison: one merchant of 10,000 cards and 200,000 rows, same shapes as bench-scale-big."""
    return DatasetSpec("small", database, MerchantSpec("bench-scale-10k", "Scale Cafe (10k cards)", 10_000, 200_000,
                                                       6, 2, 12, heavy=True))  # fmt: skip


# --- the cycles -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Cycle:
    """One variant: rows (type, stamps delta, points delta) and running totals after each row."""

    rows: list[tuple[str, int, int]]
    stamps_after: list[int]  # [k] = after the first k rows (k = 0..L)
    points_after: list[int]
    stamps_in: list[int]
    stamp_rewards: list[int]
    earned: list[int]
    redeemed: list[int]
    voided: list[int]


def _shuffled_rows(rng: random.Random) -> list[tuple[str, int, int]] | None:
    """One shuffle of the mix: a stamp reward after every STAMPS_TARGET stamps, a negative points row
    as soon as the balance allows it; None when the shuffle ends with rows still waiting."""
    kinds = [kind for kind, count in CYCLE_MIX if kind != "stamp_redeem" for _ in range(count)]
    rng.shuffle(kinds)
    rows, waiting, stamps, points = [], [], 0, 0
    for kind in [*kinds, None]:
        if kind == "stamp":
            rows.append(("stamp", 1, 0))
            stamps += 1
            if stamps == STAMPS_TARGET:
                rows.append(("stamp_redeem", -STAMPS_TARGET, 0))
                stamps = 0
            continue
        if kind == "points_earn":
            delta = rng.randint(1, 40)
            rows.append((kind, 0, delta))
            points += delta
        elif kind is not None:
            delta = {
                "points_redeem": -10 * rng.randint(1, 5),
                "points_void": -rng.randint(1, 20),
                "points_adjust": rng.choice((-1, 1)) * rng.randint(1, 10),
                "points_expire": -rng.randint(1, 100),
            }[kind]
            waiting.append((kind, 0, delta))
        for item in list(waiting):
            if points + item[2] >= 0:
                rows.append(item)
                points += item[2]
                waiting.remove(item)
    return rows if not waiting and len(rows) == CYCLE_LENGTH and stamps == 0 else None


def make_cycle(rng: random.Random) -> Cycle:
    """A shuffled cycle of the mix in which no balance goes below zero."""
    rows = None
    while rows is None:
        rows = _shuffled_rows(rng)
    totals = {name: [0] for name in ("stamps", "points", "in", "rewards", "earned", "redeemed", "voided")}
    for kind, stamps_delta, points_delta in rows:
        step = {
            "stamps": stamps_delta,
            "points": points_delta,
            "in": stamps_delta if kind == "stamp" else 0,
            "rewards": 1 if kind == "stamp_redeem" else 0,
            "earned": points_delta if kind == "points_earn" else 0,
            "redeemed": -points_delta if kind == "points_redeem" else 0,
            "voided": -points_delta if kind == "points_void" else 0,
        }
        for name, values in totals.items():
            values.append(values[-1] + step[name])
    return Cycle(
        rows,
        totals["stamps"],
        totals["points"],
        totals["in"],
        totals["rewards"],
        totals["earned"],
        totals["redeemed"],
        totals["voided"],
    )


# --- the plan: one row per card, computed here --------------------------------------------------


@dataclasses.dataclass
class MerchantRows:
    merchant_id: int
    program_id: int
    store_ids: list[int]
    staff_ids: list[int]
    manager_ids: list[int]


def plan_merchant(rng, spec: MerchantSpec, ids: MerchantRows, first_id: int, now: float, cycles: list[Cycle]):
    """Yield the plan rows of one merchant's cards (ids from first_id), with its exact totals."""
    count = spec.cards
    due_target = round(count * DUE_SHARE)
    old_end, young_start = now - (EXPIRY_DAYS + 2) * DAY, now - (EXPIRY_DAYS - 1) * DAY
    t0 = []
    for _ in range(count):
        start = now - 730 * DAY + rng.random() * (730 * DAY - 3600)
        while old_end < start < young_start:  # no enrollment in the 3 days around the expiry's cutoff
            start = now - 730 * DAY + rng.random() * (730 * DAY - 3600)
        t0.append(start)
    heavy = 0 if spec.heavy else None
    if heavy is not None:
        t0[heavy] = now - 729 * DAY
    mean = (spec.rows - (HEAVY_ROWS if spec.heavy else 0)) / count
    n = [1 + int(rng.expovariate(1 / max(mean - 1.3, 0.5))) for _ in range(count)]
    # Groups: "due" (points, inactive > 365 days), "expired" (already expired a year after the last
    # visit), "active" (a visit in the last 364 days). Exactly due_target due cards.
    old = [k for k in range(count) if t0[k] <= old_end and k != heavy]
    rng.shuffle(old)
    if len(old) < due_target:
        raise SystemExit(f"{spec.slug}: only {len(old)} cards old enough for {due_target} due ones")
    group = ["active"] * count
    for k in old[:due_target]:
        group[k] = "due"
    for k in old[due_target:]:
        group[k] = "expired" if n[k] == 1 or rng.random() < 0.35 else "active"
    t1, cap = [0.0] * count, [1] * count
    for k in range(count):
        if group[k] == "active" and t0[k] <= old_end:
            end = now - (EXPIRY_DAYS - 1) * DAY + rng.random() * ((EXPIRY_DAYS - 1) * DAY - 600)
        elif group[k] == "active":
            end = t0[k] + (now - 600 - t0[k]) * math.sqrt(rng.random())
        else:  # due, expired: the last visit more than 366 (367) days ago
            latest = now - (EXPIRY_DAYS + (1 if group[k] == "due" else 2)) * DAY
            end = t0[k] + (latest - t0[k]) * rng.random()
        t1[k] = end
        cap[k] = max(1, 1 + int((end - t0[k]) / (DAY / 2)))  # at most two rows a day
        n[k] = min(n[k], cap[k])
        if n[k] == 1:
            t1[k] = t0[k]
            if group[k] == "active" and t0[k] <= old_end:
                group[k] = "expired"
    if heavy is not None:
        n[heavy], t1[heavy], cap[heavy], group[heavy] = HEAVY_ROWS, now - 1800, HEAVY_ROWS, "active"
    # Exact totals: every expired card has one more row (its expiry).
    expired = sum(1 for g in group if g == "expired")
    diff = spec.rows - (sum(n) + expired)
    movable = [k for k in range(count) if k != heavy and n[k] >= 2]
    tries = 0
    while diff:
        tries += 1
        if tries > 100 * spec.rows:
            raise SystemExit(f"{spec.slug}: cannot spread {spec.rows:,} rows over {count:,} cards")
        k = movable[rng.randrange(len(movable))]
        if diff > 0 and n[k] < cap[k]:
            n[k] += 1
            diff -= 1
        elif diff < 0 and n[k] > 2:
            n[k] -= 1
            diff += 1
    stores = ids.store_ids
    for k in range(count):
        variant = 0 if k == heavy else rng.randrange(len(cycles))
        mult = 1 if k == heavy else rng.choice((1, 1, 2, 3))
        cycle = cycles[variant]
        full, rest = divmod(n[k] - 1, CYCLE_LENGTH)

        def total(values, full=full, rest=rest):
            return full * values[-1] + values[rest]

        stamps = total(cycle.stamps_after)
        points = WELCOME_BONUS + mult * total(cycle.points_after)
        lifetime_stamps = total(cycle.stamps_in)
        redeemed = mult * total(cycle.redeemed)
        is_expired = group[k] == "expired"
        last_row = t1[k] + EXPIRY_DAYS * DAY + 2 * 3600 if is_expired else t1[k]
        draw = rng.random()
        deleted = group[k] == "active" and k != heavy and draw < 0.01
        deleted_at = min(t1[k] + DAY, now) if deleted else None
        when = lambda flag, t=t1[k]: t if flag else None  # noqa: E731
        yield (
            first_id + k,
            ids.merchant_id,
            ids.program_id,
            stores[0] if rng.random() < 0.4 else stores[rng.randrange(len(stores))],
            n[k],
            variant,
            mult,
            t0[k],
            t1[k],
            last_row if is_expired else None,
            is_expired,
            deleted_at,
            not deleted and 0.01 <= draw < 0.02 and group[k] != "due",  # deactivated
            stamps,
            0 if is_expired else points,
            points,  # before a final expiry
            lifetime_stamps,
            total(cycle.stamp_rewards),
            WELCOME_BONUS + mult * total(cycle.earned),
            redeemed,
            mult * total(cycle.voided),
            when(n[k] > 1 and lifetime_stamps > 0),
            t0[k] if n[k] == 1 else t1[k],
            when(redeemed > 0 or total(cycle.stamp_rewards) > 0),
            max(last_row, deleted_at or 0),
            k == heavy,
        )


PLAN_COLUMNS = """
    id bigint PRIMARY KEY, merchant_id bigint, program_id bigint, store_id bigint, n int, variant int, mult int,
    t0 float8, t1 float8, te float8, expired bool, deleted_at float8, inactive bool,
    stamp_count int, points_balance int, points_before_expiry int, lifetime_stamps int, rewards_redeemed int,
    lifetime_earned int, lifetime_redeemed int, lifetime_voided int,
    last_stamp_at float8, last_points_at float8, last_redemption_at float8, updated_at float8, heavy bool
"""

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
    call_command("rebuild_insights", merchant=spec.main.slug)
    timings["rebuild_insights"] = time.perf_counter() - step
    print(f"  rebuild_insights --merchant {spec.main.slug}: {timings['rebuild_insights']:.1f} s", flush=True)
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
