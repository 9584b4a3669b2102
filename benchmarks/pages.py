"""Web pages under load: the customer list and the customer profile of a large store, timed from another process.

Used by ``benchmarks/run.py`` (step ``pages``) on the store it has just imported and classified (1M customers by
default), and runnable alone on any data dir::

    .venv/bin/python benchmarks/pages.py --data-dir DIR [--clients 4] [--seconds 30]

It starts ``kehu serve`` on a free 127.0.0.1 port with a benchmark admin (user ``kehu-bench``), then a separate
load process signs in ``--clients`` sessions and for ``--seconds`` requests, in a loop: a list page (random page
1–200, sorted by one of the list's sort keys, half of them filtered by class), a profile of a random customer, and
``/healthz`` (the baseline: the same server, middleware and sign-in check-free path, no store work). Reported:
median, p90 and p99 milliseconds per kind and the ratio of the medians to the baseline. Target (issue 4): list and
profile median under 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

SECRET = "kehu-benchmark-secret-key-0123456789abcd"
PASSWORD = "bench-admin-password-0123"
BENCH_USER = "kehu-bench"
TARGET_MS = 200.0
SORTS = ("monetary_cents", "recency_days", "frequency", "clv_365d_cents")
CLASSES = ("important_value", "general_winback", "important_retention")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load(base: str, clients: int, seconds: float, customers: int, seed: int = 7) -> dict:
    """Run the load from this process (threads of httpx clients); latencies in ms per kind."""
    import httpx

    results: dict[str, list[float]] = {"list": [], "profile": [], "healthz": []}
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        rng = random.Random(seed + n)
        with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as http:
            page = http.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            if not token:
                errors.append("no CSRF token on /login")
                return
            signed = http.post("/login", data={"username": BENCH_USER, "password": PASSWORD,
                                               "csrf_token": token.group(1)})
            if signed.status_code not in (302, 303):
                errors.append(f"sign-in answered {signed.status_code}")
                return
            while time.monotonic() < deadline:
                kind = rng.choice(("list", "profile", "healthz"))
                if kind == "list":
                    params = {"page": rng.randint(1, 200), "sort": rng.choice(SORTS)}
                    if rng.random() < 0.5:
                        params["rfm_class"] = rng.choice(CLASSES)
                    url = "/customers"
                elif kind == "profile":
                    url, params = f"/customers/{rng.randint(1, customers)}", {}
                else:
                    url, params = "/healthz", {}
                t0 = time.perf_counter()
                response = http.get(url, params=params)
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    if response.status_code != 200:
                        errors.append(f"{url} answered {response.status_code}")
                    else:
                        results[kind].append(ms)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out: dict = {"errors": len(errors), "first_errors": errors[:5]}
    for kind, values in results.items():
        if values:
            out[kind] = {"requests": len(values), "median_ms": statistics.median(values),
                         "p90_ms": _percentile(values, 0.9), "p99_ms": _percentile(values, 0.99)}
    return out


def measure(data_dir: Path, *, clients: int = 4, seconds: float = 30) -> dict:
    """Serve ``data_dir`` and load it from a second process; the result of :func:`load` plus ratios and checks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    env.update(KEHU_DATA_DIR=str(data_dir), KEHU_SECRET_KEY=SECRET, KEHU_ADMIN_PASSWORD=PASSWORD)
    kehu = str(Path(sys.executable).with_name("kehu"))
    count = subprocess.run([sys.executable, "-c", (
        "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('select max(id) from customers')"
        ".fetchone()[0] or 0)"), str(data_dir / "kehu.db")], capture_output=True, text=True, check=True)
    customers = int(count.stdout.strip())
    subprocess.run([kehu, "init"], env=env, check=True, capture_output=True)
    # A benchmark admin of its own (created, or its password reset), so any data dir can be measured.
    subprocess.run([sys.executable, "-c", (
        "import sys\nfrom kehu.config import Settings\nfrom kehu.store import session_scope\n"
        "from kehu.users import add_user, get_user, reset_password\nfrom kehu.errors import KehuError\n"
        "s = Settings()\nwith session_scope(s.store_url) as db:\n"
        "    try:\n        get_user(db, USER)\n        reset_password(db, USER, sys.argv[1])\n"
        "    except KehuError:\n        add_user(db, username=USER, password=sys.argv[1], role='admin')\n"
    ).replace("USER", repr(BENCH_USER)), PASSWORD], env=env, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen([kehu, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(120):
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise SystemExit("kehu serve did not start")
        # The load runs in its own process, so its CPU is not the server's.
        loader = subprocess.run([sys.executable, os.path.abspath(__file__), "--load", base, "--clients",
                                 str(clients), "--seconds", str(seconds), "--customers", str(customers)],
                                capture_output=True, text=True, check=True)
        result = json.loads(loader.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=30)
    result["customers"] = customers
    result["clients"] = clients
    base_ms = result.get("healthz", {}).get("median_ms")
    checks = {}
    for kind in ("list", "profile"):
        if kind in result and base_ms:
            result[kind]["ratio_to_healthz"] = result[kind]["median_ms"] / base_ms
        if kind in result:
            checks[f"{kind} median < {TARGET_MS:.0f} ms"] = result[kind]["median_ms"] < TARGET_MS
    result["checks"] = checks
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="a kehu data dir with a classified store")
    parser.add_argument("--clients", type=int, default=4, help="concurrent signed-in sessions")
    parser.add_argument("--seconds", type=float, default=30, help="how long the load runs")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--customers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        print(json.dumps(load(args.load, args.clients, args.seconds, args.customers)))
        return 0
    if not args.data_dir:
        parser.error("--data-dir is required")
    result = measure(args.data_dir, clients=args.clients, seconds=args.seconds)
    print(json.dumps(result, indent=2))
    return 0 if all(result["checks"].values()) and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
