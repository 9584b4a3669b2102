"""Concurrent API and page clients (asyncio + httpx) against one ``kehu serve``; latencies per kind.

Each client signs in once through the login form (its session cookie then works on every worker: sessions are
signed cookies) and uses the deployment's API key for ``/api/v1``. It loops without pause until the deadline over
a weighted mix of request kinds (:data:`MIX`). Latency is measured around one request, client to client, in
milliseconds; an import's whole run (upload, queue, import, polled until finished) is kind ``import_run`` in
seconds.

Strict mode (the load phase) fails on any answer other than the expected one (5xx, 4xx, wrong count) and on any
connection error. Fault mode (PostgreSQL restarting) also accepts 503 when it carries ``Retry-After`` and records
when it happened; imports are left out there.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

API_SORTS = ("id", "-id", "external_id", "-registered_at", "registered_at", "province", "-city", "birth_year")
PAGE_SORTS = ("recency_days", "frequency", "monetary_cents", "external_id", "clv_365d_cents", "churn_risk")
RFM_CLASSES = ("important_value", "important_development", "important_retention", "important_winback",
               "general_value", "general_development", "general_retention", "general_winback")
STAGES = ("churned", "won_back", "new", "at_risk", "active")
PROVINCES = ("广东", "浙江", "江苏", "上海", "北京", "四川", "山东")
CHANNELS = ("天猫", "京东", "小程序", "拼多多", "抖音")
RULES = (
    "rfm_class = '重要价值客户' AND province IN ('广东','浙江')",
    "lifecycle_stage = 'at_risk' AND monetary > 1000",
    "clv_12m > 500 OR churn_risk >= 0.7",
    "frequency >= 3 AND recency_days <= 90",
    "province LIKE '%江%' AND age BETWEEN 20 AND 35",
    "rfm_group IN ('champions','loyal') AND marketing_consent",
    "channel = '天猫' AND NOT (lifecycle_stage = 'churned')",
)
#: kind → weight in the mix; ``import`` runs at most :data:`MAX_IMPORTS` at a time (else another kind is drawn).
MIX = {"list_api": 20, "list_page": 15, "profile_api": 15, "profile_page": 10, "search": 15, "preview": 15,
       "import": 10}
MAX_IMPORTS = 2
HEADER = "order_id,customer_id,ordered_at,amount,status,channel,sku,product_name,quantity,unit_price\n"
SKUS = (("PH-004", "星河 X5 手机 12+512G"), ("WT-006", "手表 表带 氟橡胶"), ("EP-002", "降噪耳机 Pro"))


@dataclass
class Recorder:
    """What the clients saw: latencies per kind, status counts, failures, the 503s of fault mode."""

    strict: bool = True
    ms: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    unavailable: list[float] = field(default_factory=list)  # monotonic times of accepted 503s
    imported: set[str] = field(default_factory=set)  # external ids of the orders new files brought
    reimports: int = 0

    def add(self, kind: str, ms: float) -> None:
        self.ms.setdefault(kind, []).append(ms)

    def fail(self, text: str) -> None:
        if len(self.failures) < 200:
            self.failures.append(text)
        else:
            self.statuses["failures not kept"] += 1

    def check(self, kind: str, response: httpx.Response, expected: tuple[int, ...] = (200,)) -> bool:
        """Record the status; True when it is an expected success. A 503 with Retry-After is accepted in fault
        mode (recorded, not a success); anything else unexpected is a failure."""
        self.statuses[f"{kind} {response.status_code}"] += 1
        if response.status_code in expected:
            return True
        if (not self.strict and response.status_code == 503 and response.headers.get("Retry-After")
                and "Traceback" not in response.text):
            self.unavailable.append(time.monotonic())
            return False
        self.fail(f"{kind}: {response.request.method} {response.request.url.path} answered {response.status_code}"
                  f" (Retry-After {response.headers.get('Retry-After')!r}): {response.text[:160]!r}")
        return False


async def sign_in(http: httpx.AsyncClient, password: str, recorder: Recorder) -> None:
    """Sign in through the login form (CSRF token from the page); raises when it does not redirect. In fault
    mode a 503 with Retry-After is recorded and the sign-in tried again after that many seconds (for 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        page = await http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if not token:
            raise RuntimeError(f"no CSRF token on /login (status {page.status_code})")
        done = await http.post("/login", data={"username": "admin", "password": password,
                                               "csrf_token": token.group(1)})
        if done.status_code in (302, 303):
            return
        retry = done.headers.get("Retry-After")
        if recorder.strict or done.status_code != 503 or not retry or time.monotonic() > deadline:
            raise RuntimeError(f"sign-in answered {done.status_code} (Retry-After {retry!r})")
        recorder.statuses["sign_in 503"] += 1
        recorder.unavailable.append(time.monotonic())
        await asyncio.sleep(float(retry))


def order_file(rng: random.Random, prefix: str, n: int, customers: int) -> tuple[bytes, list[str]]:
    """A generic orders CSV of ``n`` new orders for existing customers, each with one order line."""
    ids = [f"{prefix}-{i:04d}" for i in range(n)]
    lines = [HEADER]
    start = date(2026, 1, 1)
    for order_id in ids:
        day = start + timedelta(days=rng.randrange(300))
        at = f"{day} {rng.randrange(24):02d}:{rng.randrange(60):02d}:00"
        amount = f"{rng.randint(20, 3000)}.{rng.randrange(100):02d}"
        sku, product = rng.choice(SKUS)
        lines.append(f"{order_id},C{rng.randint(1, customers):06d},{at},{amount},paid,{rng.choice(CHANNELS)},"
                     f"{sku},{product},1,{amount}\n")
    return "".join(lines).encode("utf-8"), ids


@dataclass
class Client:
    """One simulated user: a web session and the API key."""

    n: int
    base: str
    api_key: str
    password: str
    customers: int
    phones: list[str]
    recorder: Recorder
    imports: asyncio.Semaphore
    with_imports: bool = True
    files: list[tuple[bytes, int]] = field(default_factory=list)  # posted files and their order counts
    seq: int = 0

    async def run(self, deadline: float, seed: int) -> None:
        rng = random.Random(seed * 1000 + self.n)
        kinds = [k for k in MIX if self.with_imports or k != "import"]
        weights = [MIX[k] for k in kinds]
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
        async with httpx.AsyncClient(base_url=self.base, timeout=120, limits=limits) as http:
            try:
                await sign_in(http, self.password, self.recorder)
            except (httpx.HTTPError, RuntimeError) as exc:
                self.recorder.fail(f"client {self.n}: sign-in failed: {exc!r}")
                return
            api = {"X-API-Key": self.api_key}
            while time.monotonic() < deadline:
                kind = rng.choices(kinds, weights)[0]
                try:
                    if kind == "import":
                        if self.imports.locked():
                            kind = "list_api"
                        else:
                            async with self.imports:
                                await self._import(http, api, rng, deadline)
                            continue
                    await self._one(kind, http, api, rng)
                except httpx.HTTPError as exc:  # connection refused/reset, timeout: never acceptable
                    self.recorder.fail(f"{kind}: connection error {type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.5)

    async def _timed(self, kind: str, call: Any) -> httpx.Response:
        t0 = time.perf_counter()
        response = await call
        if response.status_code < 500:
            self.recorder.add(kind, (time.perf_counter() - t0) * 1000)
        return response

    async def _one(self, kind: str, http: httpx.AsyncClient, api: dict[str, str], rng: random.Random) -> None:
        record = self.recorder
        if kind == "list_api":
            params: dict[str, Any] = {"sort": rng.choice(API_SORTS), "page": rng.randint(1, 20), "per_page": 50}
            extra = rng.choice(("province", "rfm_class", "lifecycle_stage", "channel", None))
            if extra:
                params[extra] = rng.choice({"province": PROVINCES, "rfm_class": RFM_CLASSES,
                                            "lifecycle_stage": STAGES, "channel": CHANNELS}[extra])
            response = await self._timed(kind, http.get("/api/v1/customers", params=params, headers=api))
            if record.check(kind, response) and "items" not in response.json():
                record.fail(f"{kind}: no items in the answer")
        elif kind == "list_page":
            params = {"sort": rng.choice(PAGE_SORTS), "dir": rng.choice(("asc", "desc"))}
            extra = rng.choice(("rfm_class", "stage", "province", None))
            if extra:
                params[extra] = rng.choice({"rfm_class": RFM_CLASSES, "stage": STAGES, "province": PROVINCES}[extra])
            record.check(kind, await self._timed(kind, http.get("/customers", params=params)))
        elif kind == "profile_api":
            customer = rng.randint(1, self.customers)
            path = rng.choice((f"/api/v1/customers/{customer}", f"/api/v1/customers/{customer}/classification"))
            record.check(kind, await self._timed(kind, http.get(path, headers=api)))
        elif kind == "profile_page":
            record.check(kind, await self._timed(kind, http.get(f"/customers/{rng.randint(1, self.customers)}")))
        elif kind == "search":
            response = await self._timed(kind, http.get("/api/v1/customers", headers=api,
                                                        params={"phone": rng.choice(self.phones)}))
            if record.check(kind, response) and response.json().get("total", 0) < 1:
                record.fail(f"{kind}: a demo customer's phone found nobody")
        elif kind == "preview":
            response = await self._timed(kind, http.get("/segments/preview", params={"rule": rng.choice(RULES)}))
            if record.check(kind, response) and not response.json().get("ok"):
                record.fail(f"{kind}: {response.json()}")

    async def _import(self, http: httpx.AsyncClient, api: dict[str, str], rng: random.Random,
                      deadline: float) -> None:
        """Post a new small file (or, one time in five, re-post one of this client's files) and follow its run to
        the end: a new file inserts every order, a re-import changes nothing."""
        record = self.recorder
        again = bool(self.files) and rng.random() < 0.2
        if again:
            body, n = rng.choice(self.files)
            ids: list[str] = []
        else:
            self.seq += 1
            n = rng.randint(20, 200)
            body, ids = order_file(rng, f"SOAK-L{self.n:02d}-{self.seq:04d}", n, self.customers)
        t0 = time.perf_counter()
        response = await self._timed("import_post", http.post(
            "/api/v1/imports", headers=api, data={"kind": "orders", "format": "generic"},
            files={"file": (f"soak-{self.n}-{self.seq}.csv", body, "text/csv")}))
        if not record.check("import_post", response, (202,)):
            return
        run_id = response.json()["run_id"]
        run: dict[str, Any] = {}
        while time.monotonic() < deadline + 120:
            await asyncio.sleep(0.5)
            poll = await self._timed("import_poll", http.get(f"/api/v1/imports/{run_id}", headers=api))
            if not record.check("import_poll", poll):
                return
            run = poll.json()
            if run.get("finished"):
                break
        else:
            record.fail(f"import run {run_id} did not finish within 120 s after the deadline")
            return
        record.add("import_run", (time.perf_counter() - t0) * 1000)
        expected = {"status": "succeeded", "inserted": 0 if again else n, "unchanged": n if again else 0,
                    "rejected": 0}
        got = {key: run.get(key) for key in expected}
        if got != expected:
            record.fail(f"import run {run_id} ({'re-import' if again else 'new file'} of {n} orders): {got} "
                        f"(message {run.get('message')!r})")
            return
        if again:
            record.reimports += 1
        else:
            self.files.append((body, n))
            record.imported.update(ids)


async def run_load(*, base: str, api_key: str, password: str, customers: int, phones: list[str], clients: int,
                   seconds: float, recorder: Recorder, with_imports: bool = True, seed: int = 1) -> float:
    """Run ``clients`` clients for ``seconds``; returns the wall time in seconds (the last requests finish after
    the deadline)."""
    imports = asyncio.Semaphore(MAX_IMPORTS)
    deadline = time.monotonic() + seconds
    t0 = time.monotonic()
    crew = [Client(n=n, base=base, api_key=api_key, password=password, customers=customers, phones=phones,
                   recorder=recorder, imports=imports, with_imports=with_imports) for n in range(clients)]
    await asyncio.gather(*(c.run(deadline, seed) for c in crew))
    return time.monotonic() - t0


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(recorder: Recorder, wall: float) -> dict[str, Any]:
    """Count, requests/s, p50, p99 and max per kind (ms)."""
    kinds = {}
    for kind, values in sorted(recorder.ms.items()):
        kinds[kind] = {"count": len(values), "per_s": len(values) / wall if wall else 0.0,
                       "p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99), "max_ms": max(values)}
    return {"wall_s": wall, "kinds": kinds, "statuses": dict(sorted(recorder.statuses.items())),
            "failures": len(recorder.failures), "first_failures": recorder.failures[:10],
            "new_orders_imported": len(recorder.imported), "reimports": recorder.reimports}
