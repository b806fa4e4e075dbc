"""What the data set of bench/scale.py looks like: its merchants and, card by card, its plan.

The plan (one row per card: its number of ledger rows, dates, cycle, final balances) is computed
here in Python and turned into customers, cards and ledger rows by PostgreSQL
(bench/scale_dataset.py). The shape, the same for every size:

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
  12,000 rows (the transactions list's page 500). Most cards are shorter than a cycle, so the
  shares the build prints differ a little: ~5 % welcome bonuses (one per card), ~3 % stamp
  rewards (a reward waits for 8 stamps).
* 730 days of history. 20 % of each merchant's cards are due for the nightly expiry (points
  and no activity for 365 days, at the build's clock), exactly; another share of the old cards
  was expired already (a final ``points_expire`` row took their points a year after their last
  visit); the rest were active in the last 364 days. 1 % of cards are deleted, 1 % deactivated.
* The ledger is written in time order (ids grow with ``created_at``), so a card's rows are
  scattered over the table as they are in production. Rows carry a store (the card's own store
  mostly) and a staff member of the merchant (none for the welcome bonus and the expiries, a
  manager for adjustments); no Idempotency-Key, order reference or voided-row link.
"""

import dataclasses
import math
import random

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


# The helper table the generators read (one row per card, in plan_merchant's order).
PLAN_COLUMNS = """
    id bigint PRIMARY KEY, merchant_id bigint, program_id bigint, store_id bigint, n int, variant int, mult int,
    t0 float8, t1 float8, te float8, expired bool, deleted_at float8, inactive bool,
    stamp_count int, points_balance int, points_before_expiry int, lifetime_stamps int, rewards_redeemed int,
    lifetime_earned int, lifetime_redeemed int, lifetime_voided int,
    last_stamp_at float8, last_points_at float8, last_redemption_at float8, updated_at float8, heavy bool
"""
