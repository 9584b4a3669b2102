"""Seeded demo data: a Chinese consumer-electronics merchant's customers and three years of order lines.

Files are in kehu's ``generic`` formats (see :mod:`kehu.ingest.formats`): ``customers.csv`` (one row per
customer) and ``orders.csv`` (one row per order line; the order's fields repeat on each of its lines). The
same seed always gives the same bytes.

How customers behave (a BG/NBD-like process, Fader, Hardie & Lee 2005, with a calendar):

* customers are acquired over the whole period, more of them later and around the sales festivals;
* each buyer has a purchase rate λ ~ Gamma(r, α) and, after every purchase, drops out with probability
  p ~ Beta(a, b); while alive, purchases follow a Poisson process whose intensity follows the calendar
  (双十一 11-11, 618, 双十二 up; two weeks around 春节 down; weekends slightly up);
* some dropped-out customers come back after more than a year of silence (won back), some registered people
  never buy (prospects);
* price-sensitive customers use coupons on most orders, the others now and then (more during the festivals);
* a few orders are cancelled or fully refunded, some paid orders are partly refunded.

Run ``python -m kehu.sample.generate OUT_DIR`` to write the two files.
"""

from __future__ import annotations

import argparse
import csv
import sys
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from kehu.sample.catalog import (
    CHANNELS,
    CITIES,
    EMAIL_DOMAINS,
    GIVEN_EITHER,
    GIVEN_FEMALE,
    GIVEN_MALE,
    MOBILE_PREFIXES,
    PRODUCTS,
    SPRING_FESTIVAL,
    SURNAMES,
)

CUSTOMER_HEADER = (
    "customer_id",
    "name",
    "phone",
    "email",
    "gender",
    "birth_date",
    "province",
    "city",
    "channel",
    "registered_at",
    "marketing_consent",
)
ORDER_HEADER = (
    "order_id",
    "customer_id",
    "ordered_at",
    "amount",
    "status",
    "channel",
    "province",
    "city",
    "sku",
    "product_name",
    "category",
    "quantity",
    "unit_price",
    "discount",
    "refunded",
)

YEARS = 3
#: BG/NBD-like parameters: purchase rate λ ~ Gamma(shape R, rate ALPHA) per day; dropout p ~ Beta(A, B).
R, ALPHA, A, B = 0.55, 55.0, 0.9, 2.4
PROSPECT_SHARE = 0.05  # registered, never bought
WAKE_SHARE = 0.22  # of dropped-out customers who come back after a long silence
PRICE_SENSITIVE_SHARE = 0.35
#: Spending level of a customer: budget, mid-range, premium (tilt of product choice towards higher prices).
LEVEL_SHARES = (0.35, 0.45, 0.20)
LEVEL_TILT = (-0.6, 0.0, 0.45)
LINES_PER_ORDER = ((1, 0.70), (2, 0.20), (3, 0.07), (4, 0.03))
CANCELLED_SHARE, REFUNDED_SHARE, PARTIAL_REFUND_SHARE = 0.025, 0.03, 0.04
#: Order hour-of-day profile (0–23), evening peak.
HOUR_WEIGHTS = (
    3,
    1.5,
    0.8,
    0.4,
    0.3,
    0.3,
    0.6,
    1.5,
    3,
    4,
    5,
    5.5,
    6,
    5,
    4.5,
    4.5,
    5,
    5,
    5.5,
    6.5,
    8,
    8.5,
    8,
    5.5,
)
DEVICE_CATEGORIES = ("手机", "平板", "笔记本", "耳机", "智能手表")


@dataclass(frozen=True)
class DemoFiles:
    """The two files :func:`generate_demo` wrote."""

    customers_csv: Path
    orders_csv: Path


def generate_demo(
    out_dir: Path, *, seed: int = 20260101, customers: int = 20_000, end: date = date(2026, 10, 31)
) -> DemoFiles:
    """Write ``customers.csv`` and ``orders.csv`` (kehu's ``generic`` formats) into ``out_dir``.

    Parameters
    ----------
    out_dir
        Folder to write into (created when missing); existing files of the same names are replaced.
    seed
        Seed of the random generator; the same seed, customer count and end date give the same bytes.
    customers
        Number of customers (about 5% never buy; the default gives roughly 70,000 order lines).
    end
        Date of the last orders; the orders cover the three years up to and including it.
    """
    if customers < 1:
        raise ValueError(f"customers must be at least 1, not {customers}")
    rng = np.random.default_rng(seed)
    start = _years_before(end, YEARS) + timedelta(days=1)
    n_days = (end - start).days + 1
    calendar = _calendar(start, n_days)

    people = _people(rng, customers, start, n_days, calendar)
    orders = _orders(rng, people, calendar, n_days)
    lines = _lines(rng, people, orders, _promo_days(start, n_days))

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = DemoFiles(customers_csv=out_dir / "customers.csv", orders_csv=out_dir / "orders.csv")
    _write_customers(files.customers_csv, people, start)
    _write_orders(files.orders_csv, people, orders, lines, start)
    return files


# ------------------------------------------------------------------------------------------------ calendar


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _calendar(start: date, n_days: int) -> np.ndarray:
    """Relative purchase intensity of each day (mean 1): festivals up, 春节 down, weekends a little up."""
    w = np.ones(n_days)
    for i in range(n_days):
        d = start + timedelta(days=i)
        m, dd = d.month, d.day
        if d.weekday() >= 5:
            w[i] *= 1.15
        if m == 11 and dd == 11:
            w[i] *= 7.0
        elif m == 11 and 1 <= dd <= 10:
            w[i] *= 1.8
        elif m == 11 and 12 <= dd <= 15:
            w[i] *= 1.3
        elif m == 10 and dd >= 24:
            w[i] *= 1.4  # 双十一 pre-sales
        elif m == 6 and dd == 18:
            w[i] *= 4.5
        elif m == 6 and dd <= 17:
            w[i] *= 1.6
        elif m == 12 and dd == 12:
            w[i] *= 2.5
        elif m == 1 and dd <= 3:
            w[i] *= 1.3  # 元旦
        lny = SPRING_FESTIVAL.get(d.year)
        if lny is not None and abs((d - date(d.year, *lny)).days) <= 7:
            w[i] *= 0.45
    return w / w.mean()


def _promo_days(start: date, n_days: int) -> np.ndarray:
    days = [start + timedelta(days=i) for i in range(n_days)]
    return np.array(
        [
            (d.month == 11 and d.day <= 11) or (d.month == 6 and d.day <= 18) or (d.month, d.day) == (12, 12)
            for d in days
        ]
    )


# ------------------------------------------------------------------------------------------------ customers


@dataclass
class _People:
    n: int
    buyer: np.ndarray  # bool
    first_t: np.ndarray  # first purchase (buyers) or registration (prospects), days since start (float)
    registered_t: np.ndarray  # days since start; may be before the start
    price_sensitive: np.ndarray
    level: np.ndarray  # 0 budget, 1 mid, 2 premium
    channel: np.ndarray  # index into CHANNELS
    city: np.ndarray  # index into CITIES
    name: list[str]
    phone: list[str]
    email: list[str]
    gender: list[str]
    birth_date: list[str]
    consent: list[str]
    lam: np.ndarray
    p_drop: np.ndarray
    external_id: list[str] | None = None  # set in registration order when written


def _weights(pairs: tuple[tuple[str, float], ...]) -> tuple[list[str], np.ndarray]:
    values = [v for v, _ in pairs]
    w = np.array([x for _, x in pairs], dtype=float)
    return values, w / w.sum()


def _people(rng: np.random.Generator, n: int, start: date, n_days: int, calendar: np.ndarray) -> _People:
    buyer = rng.random(n) >= PROSPECT_SHARE
    # Acquisition: more customers later (the shop grows) and on the festival days.
    growth = np.linspace(1.0, 1.9, n_days)
    acq = growth * np.sqrt(calendar)
    day = rng.choice(n_days, size=n, p=acq / acq.sum())
    first_t = day + rng.random(n)
    # Registration: the same day for most buyers, up to a year or so before for the rest.
    lag = np.where(rng.random(n) < 0.6, rng.random(n) * 0.02, rng.exponential(60.0, n))
    registered_t = np.where(buyer, first_t - lag, first_t)

    level = rng.choice(3, size=n, p=LEVEL_SHARES)
    ch_values, ch_p = _weights(CHANNELS)
    channel = rng.choice(len(ch_values), size=n, p=ch_p)
    city_w = np.array([c[3] for c in CITIES])
    city = rng.choice(len(CITIES), size=n, p=city_w / city_w.sum())

    sur, sur_p = _weights(SURNAMES)
    surname = rng.choice(len(sur), size=n, p=sur_p)
    g = rng.random(n)
    gender = np.where(g < 0.56, "男", np.where(g < 0.97, "女", ""))
    n_given = np.where(rng.random(n) < 0.28, 1, 2)
    pick = rng.random((n, 2))
    from_either = rng.random((n, 2)) < 0.2
    names = []
    for i in range(n):
        pool = GIVEN_FEMALE if gender[i] == "女" else GIVEN_MALE if gender[i] == "男" else GIVEN_EITHER
        chars = [(GIVEN_EITHER if from_either[i, k] else pool) for k in range(n_given[i])]
        names.append(sur[surname[i]] + "".join(c[int(pick[i, k] * len(c))] for k, c in enumerate(chars)))

    prefix = rng.choice(len(MOBILE_PREFIXES), size=n)
    suffix = rng.choice(100_000_000, size=n, replace=False)
    phones = [f"{MOBILE_PREFIXES[p]}{s:08d}" for p, s in zip(prefix.tolist(), suffix.tolist(), strict=True)]

    emails = _emails(rng, n)
    age = np.clip(rng.normal(33, 10, n), 16, 75)
    birth_day = (start + timedelta(days=n_days)).toordinal() - (age * 365.25).astype(int)
    has_birth = rng.random(n) >= 0.18
    birth = [
        date.fromordinal(int(o)).isoformat() if h else "" for o, h in zip(birth_day, has_birth, strict=True)
    ]
    consent = np.where(rng.random(n) < 0.7, "是", "否").tolist()

    lam = rng.gamma(R, 1.0 / ALPHA, n)
    p_drop = rng.beta(A, B, n)
    price_sensitive = rng.random(n) < PRICE_SENSITIVE_SHARE
    return _People(
        n=n,
        buyer=buyer,
        first_t=first_t,
        registered_t=registered_t,
        price_sensitive=price_sensitive,
        level=level,
        channel=channel,
        city=city,
        name=names,
        phone=phones,
        email=emails,
        gender=gender.tolist(),
        birth_date=birth,
        consent=consent,
        lam=lam,
        p_drop=p_drop,
    )


def _emails(rng: np.random.Generator, n: int) -> list[str]:
    domains, dom_p = _weights(EMAIL_DOMAINS)
    has = rng.random(n) < 0.35
    dom = rng.choice(len(domains), size=n, p=dom_p)
    qq = rng.integers(100_000, 3_999_999_999, n)
    letters = "abcdefghijklmnopqrstuvwxyz"
    handle_len = rng.integers(4, 10, n)
    handle_chars = rng.integers(0, 26, (n, 10))
    digits = rng.integers(0, 10_000, n)
    with_digits = rng.random(n) < 0.6
    out = []
    for i in range(n):
        if not has[i]:
            out.append("")
        elif domains[dom[i]] == "qq.com":
            out.append(f"{qq[i]}@qq.com")
        else:
            handle = "".join(letters[c] for c in handle_chars[i, : handle_len[i]])
            out.append(f"{handle}{digits[i] if with_digits[i] else ''}@{domains[dom[i]]}")
    return out


# ------------------------------------------------------------------------------------------------ orders


@dataclass
class _Orders:
    customer: np.ndarray  # index into people
    day: np.ndarray  # days since start
    second: np.ndarray  # second of the day
    first: np.ndarray  # the customer's first order


class _Stream:
    """Pre-drawn uniforms and exponentials, read one at a time (fast and deterministic)."""

    def __init__(self, rng: np.random.Generator, size: int = 1 << 18) -> None:
        self.rng, self.size = rng, size
        self._u: list[float] = []
        self._e: list[float] = []
        self.iu = self.ie = 0

    def u(self) -> float:
        if self.iu >= len(self._u):
            self._u, self.iu = self.rng.random(self.size).tolist(), 0
        self.iu += 1
        return self._u[self.iu - 1]

    def e(self) -> float:
        if self.ie >= len(self._e):
            self._e, self.ie = self.rng.exponential(1.0, self.size).tolist(), 0
        self.ie += 1
        return self._e[self.ie - 1]


def _orders(rng: np.random.Generator, people: _People, calendar: np.ndarray, n_days: int) -> _Orders:
    """Purchase times: a Poisson process in calendar time (intensity λ·w(day)), dropout after a purchase."""
    cum = np.concatenate([[0.0], np.cumsum(calendar)]).tolist()
    w = calendar.tolist()
    total = cum[-1]
    stream = _Stream(rng)

    def clock(t: float) -> float:  # cumulative calendar intensity at time t
        d = int(t)
        return cum[d] + w[d] * (t - d)

    def time_at(level: float) -> float:  # inverse of clock
        d = bisect_right(cum, level) - 1
        return d + (level - cum[d]) / w[d]

    cust: list[int] = []
    times: list[float] = []
    lam, p_drop = people.lam.tolist(), people.p_drop.tolist()
    for i in np.flatnonzero(people.buyer).tolist():
        t = float(people.first_t[i])
        cust.append(i)
        times.append(t)
        level = clock(t)
        while True:
            if stream.u() < p_drop[i]:  # drops out after this purchase
                if stream.u() >= WAKE_SHARE:
                    break
                t += 366 + 300 * stream.u()  # comes back after more than a year
                if t >= n_days:
                    break
                level = clock(t)
            else:
                level += stream.e() / lam[i]
                if level >= total:
                    break
                t = time_at(level)
            cust.append(i)
            times.append(t)
    customer = np.array(cust, dtype=np.int64)
    day = np.minimum(np.array(times).astype(np.int64), n_days - 1)
    hour_p = np.array(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS)
    second = rng.choice(24, size=len(day), p=hour_p) * 3600 + rng.integers(0, 3600, len(day))
    order = np.lexsort((second, day))
    customer, day, second = customer[order], day[order], second[order]
    first = np.zeros(len(customer), dtype=bool)
    _, first_idx = np.unique(customer, return_index=True)
    first[first_idx] = True
    return _Orders(customer=customer, day=day, second=second, first=first)


@dataclass
class _Lines:
    order: np.ndarray  # index into orders
    product: np.ndarray  # index into PRODUCTS
    quantity: np.ndarray
    unit_cents: np.ndarray
    amount_cents: np.ndarray  # per order
    discount_cents: np.ndarray  # per order
    refunded_cents: np.ndarray  # per order
    status: np.ndarray  # per order
    channel: np.ndarray  # per order, index into CHANNELS
    city: np.ndarray  # per order, index into CITIES


def _lines(rng: np.random.Generator, people: _People, orders: _Orders, promo_days: np.ndarray) -> _Lines:
    n_orders = len(orders.customer)
    counts, count_p = zip(*LINES_PER_ORDER, strict=True)
    n_lines = rng.choice(np.array(counts), size=n_orders, p=np.array(count_p))
    order_of_line = np.repeat(np.arange(n_orders), n_lines)
    first_line = np.concatenate([[True], order_of_line[1:] != order_of_line[:-1]])

    price = np.array([p[3] for p in PRODUCTS], dtype=float)
    pop = np.array([p[4] for p in PRODUCTS])
    device = np.array([p[2] in DEVICE_CATEGORIES for p in PRODUCTS])
    level_of_line = people.level[orders.customer[order_of_line]]
    # A customer's first order starts with a device most of the time.
    wants_device = first_line & orders.first[order_of_line] & (rng.random(len(order_of_line)) < 0.8)
    product = np.zeros(len(order_of_line), dtype=np.int64)
    for lv, tilt in enumerate(LEVEL_TILT):
        base = pop * (price / np.median(price)) ** tilt
        for dev in (False, True):
            p = base * device if dev else base
            mask = (level_of_line == lv) & (wants_device == dev)
            product[mask] = rng.choice(len(PRODUCTS), size=int(mask.sum()), p=p / p.sum())
    cheap = price[product] < 200
    quantity = np.where(cheap & (rng.random(len(product)) < 0.3), rng.integers(2, 4, len(product)), 1)
    quantity = np.where(~cheap & (rng.random(len(product)) < 0.03), 2, quantity)
    unit_cents = (price[product] * 100).astype(np.int64)
    subtotal = np.bincount(order_of_line, weights=unit_cents * quantity, minlength=n_orders).astype(np.int64)

    sensitive = people.price_sensitive[orders.customer]
    promo = promo_days[orders.day]
    coupon_p = np.where(sensitive, 0.65, 0.10) + np.where(promo, 0.25, 0.0)
    uses_coupon = rng.random(n_orders) < coupon_p
    discount = np.where(uses_coupon, _coupon(rng, subtotal), 0)
    discount = np.minimum(discount, subtotal - 100)
    discount = np.maximum(discount, 0)
    amount = subtotal - discount

    r = rng.random(n_orders)
    status = np.where(
        r < CANCELLED_SHARE, "cancelled", np.where(r < CANCELLED_SHARE + REFUNDED_SHARE, "refunded", "paid")
    )
    partial = (status == "paid") & (rng.random(n_orders) < PARTIAL_REFUND_SHARE)
    # Partial refund: a returned line (multi-line orders) or price protection (价保, 5–25%, one line).
    last_line_idx = np.cumsum(n_lines) - 1
    last_line_value = unit_cents[last_line_idx] * quantity[last_line_idx]
    protection = (amount * (0.05 + 0.2 * rng.random(n_orders)) // 100 * 100).astype(np.int64)
    returned = (
        last_line_value * amount // np.maximum(subtotal, 1)
    )  # the line's value less its share of the discount
    part = np.where(n_lines > 1, np.minimum(returned, amount - 100), protection)
    refunded = np.where(status == "refunded", amount, np.where(partial, part, 0))

    own = rng.random(n_orders) < 0.8
    ch_values, ch_p = _weights(CHANNELS)
    channel = np.where(
        own, people.channel[orders.customer], rng.choice(len(ch_values), size=n_orders, p=ch_p)
    )
    city_w = np.array([c[3] for c in CITIES])
    home = rng.random(n_orders) < 0.95
    city = np.where(
        home, people.city[orders.customer], rng.choice(len(CITIES), size=n_orders, p=city_w / city_w.sum())
    )
    return _Lines(
        order=order_of_line,
        product=product,
        quantity=quantity,
        unit_cents=unit_cents,
        amount_cents=amount,
        discount_cents=discount,
        refunded_cents=refunded,
        status=status,
        channel=channel,
        city=city,
    )


def _coupon(rng: np.random.Generator, subtotal: np.ndarray) -> np.ndarray:
    """满减 coupons by order size (in cents), and now and then a 5–10% off coupon."""
    yuan = subtotal / 100
    tiers = np.select(
        [yuan >= 5000, yuan >= 2000, yuan >= 1000, yuan >= 500, yuan >= 200, yuan >= 99],
        [300, 150, 80, 40, 20, 10],
        default=3,
    )
    percent = np.floor(yuan * rng.choice([0.05, 0.08, 0.1], size=len(subtotal)))
    return (np.where(rng.random(len(subtotal)) < 0.2, percent, tiers) * 100).astype(np.int64)


# ------------------------------------------------------------------------------------------------ writing


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _stamp(start: date, t: float) -> str:
    return (datetime(start.year, start.month, start.day) + timedelta(seconds=round(t * 86400))).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def _ids(n: int, prefix: str) -> list[str]:
    width = max(6, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def _write_customers(path: Path, people: _People, start: date) -> None:
    # Ids in order of registration, as a shop's member numbers would be.
    order = np.argsort(people.registered_t, kind="stable")
    external = np.empty(people.n, dtype=object)
    external[order] = _ids(people.n, "C")
    people.external_id = external.tolist()
    ch_values = [c for c, _ in CHANNELS]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CUSTOMER_HEADER)
        for i in order.tolist():
            province, city = CITIES[people.city[i]][:2]
            writer.writerow(
                (
                    people.external_id[i],
                    people.name[i],
                    people.phone[i],
                    people.email[i],
                    people.gender[i],
                    people.birth_date[i],
                    province,
                    city,
                    ch_values[people.channel[i]],
                    _stamp(start, float(people.registered_t[i])),
                    people.consent[i],
                )
            )


def _write_orders(path: Path, people: _People, orders: _Orders, lines: _Lines, start: date) -> None:
    external = people.external_id
    assert external is not None, "customers are written first"
    ch_values = [c for c, _ in CHANNELS]
    n_orders = len(orders.day)
    # Order numbers: SO + date + the order's number within its day.
    day_start = np.searchsorted(orders.day, orders.day, side="left")
    seq = np.arange(n_orders) - day_start + 1
    base = datetime(start.year, start.month, start.day)
    order_ids, stamps = [], []
    for d, s, q in zip(orders.day.tolist(), orders.second.tolist(), seq.tolist(), strict=True):
        moment = base + timedelta(days=d, seconds=s)
        order_ids.append(f"SO{moment:%Y%m%d}{q:05d}")
        stamps.append(f"{moment:%Y-%m-%d %H:%M:%S}")
    cust = [external[c] for c in orders.customer.tolist()]
    amount = [_money(c) for c in lines.amount_cents.tolist()]
    discount = [_money(c) for c in lines.discount_cents.tolist()]
    refunded = [_money(c) for c in lines.refunded_cents.tolist()]
    status = lines.status.tolist()
    channel = [ch_values[c] for c in lines.channel.tolist()]
    place = [CITIES[c][:2] for c in lines.city.tolist()]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(ORDER_HEADER)
        for o, p, q, u in zip(
            lines.order.tolist(),
            lines.product.tolist(),
            lines.quantity.tolist(),
            lines.unit_cents.tolist(),
            strict=True,
        ):
            sku, name, category = PRODUCTS[p][:3]
            writer.writerow(
                (
                    order_ids[o],
                    cust[o],
                    stamps[o],
                    amount[o],
                    status[o],
                    channel[o],
                    place[o][0],
                    place[o][1],
                    sku,
                    name,
                    category,
                    q,
                    _money(u),
                    discount[o],
                    refunded[o],
                )
            )


def main(argv: list[str] | None = None) -> int:
    """``python -m kehu.sample.generate OUT_DIR [--seed N] [--customers N] [--end YYYY-MM-DD]``."""
    parser = argparse.ArgumentParser(
        prog="python -m kehu.sample.generate",
        description="Write kehu's demo customers.csv and orders.csv into OUT_DIR.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write customers.csv and orders.csv into")
    parser.add_argument("--seed", type=int, default=20260101, help="random seed (default 20260101)")
    parser.add_argument("--customers", type=int, default=20_000, help="number of customers (default 20000)")
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=date(2026, 10, 31),
        help="date of the last orders, YYYY-MM-DD (default 2026-10-31)",
    )
    args = parser.parse_args(argv)
    files = generate_demo(args.out_dir, seed=args.seed, customers=args.customers, end=args.end)
    print(f"{files.customers_csv}\n{files.orders_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
