"""kehu benchmark: import and classify N orders of M customers, against plain DuckDB in the same run.

Usage (``make bench``)::

    .venv/bin/python benchmarks/run.py [--orders 10000000] [--customers 1000000] [--out bench-data]
                                       [--repeat 3] [--quick]

Steps, each in its own child process so that its wall time and peak memory (the child's ``ru_maxrss`` from
``os.wait4``) are its own:

a. ``generate``    a seeded CSV of N orders in kehu's ``generic`` orders format (numpy + pyarrow; reported);
b. ``floor``       plain DuckDB ``SELECT count(*) FROM read_csv(file)``: the floor for reading that file;
c. ``import``      ``kehu.ingest.import_file`` into a fresh default SQLite store (target ≥ 100,000 rows/s),
                   including the buyers' purchase history it stores for classification (reported apart);
d. ``rfm_sql``     the RFM aggregation (recency, frequency, monetary, 20/40/60/80 percentiles, 1–5 scores)
                   as one plain DuckDB query over the same CSV: the baseline for e;
e. ``classify``    ``kehu.analytics.classify`` over the store, RFM and lifecycle only (``predict=False``;
                   target: within 2× of d and < 4 GB peak), as it runs after an import: from the stored purchase
                   history (``kehu.analytics.history``);
e2. ``classify_orders`` e with the history computed from the 10M orders (the stored one removed first, as after
                   orders changed by something other than an import), the day after e's date; against d;
f. ``predict``     the same with the predictive models (BG/NBD, Gamma-Gamma, churn model, clusters,
                   recommendations), as ``kehu classify`` runs by default (reported with its phases);
g. ``pages``       ``kehu serve`` on that store, loaded from a second process (``benchmarks/pages.py``): median
                   and p99 of the customer list and profile against ``/healthz`` (target: medians < 200 ms);
h. ``spark``       e on Apache Spark ``local[2]`` (``engine="spark"``, the orders read from the same store), against
                   e2 (both compute from the orders): the overhead of a distributed engine on one machine. The
                   JVM's start and a first (cold) classification are reported apart; the second, warm one counts.

The models alone, beside the ``lifetimes`` package, are measured by ``benchmarks/models.py``.

b and d run ``--repeat`` times (default 3) and the fastest run counts: they take seconds and vary from run to run.
"time s" is the step's own work measured inside the child (interpreter start and imports excluded); "peak MB"
is the child's whole peak resident memory. The scratch folder ``OUT/scratch`` (CSV, store) is removed at the
end; only ``OUT/results.json`` stays. ``./kehu-data`` is never touched: every step gets explicit settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

SEED = 20260101
SECRET = "kehu-benchmark-secret-key-0123456789abcd"  # fixed 40 characters: the store is thrown away
END = date(2026, 10, 31)  # last order date; the as-of date of the RFM steps
YEARS = 3
STATUSES = ("paid", "refunded", "cancelled")
STATUS_P = (0.95, 0.03, 0.02)
CHANNELS = ("天猫", "京东", "小程序", "门店", "抖音")
CHANNEL_P = (0.35, 0.25, 0.2, 0.12, 0.08)

TARGET_IMPORT_ROWS_S = 100_000
TARGET_CLASSIFY_RATIO = 2.0
TARGET_CLASSIFY_MB = 4096


# --------------------------------------------------------------------------------------------- child steps


def step_generate(orders: int, customers: int, csv_path: Path) -> dict:
    """Write ``orders`` rows for ``customers`` customers (each at least once, heavy-tailed repeat counts)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    if orders < customers:
        raise SystemExit(f"--orders ({orders}) must be at least --customers ({customers})")
    t0 = time.perf_counter()
    rng = np.random.default_rng(SEED)
    # Every customer buys once; the other orders go to customers in proportion to a gamma-distributed rate.
    rates = rng.gamma(0.4, 1.0, customers)
    extra = rng.choice(customers, size=orders - customers, p=rates / rates.sum())
    cust = np.concatenate([np.arange(customers), extra])
    span = (YEARS * 365 + 1) * 86400
    end_ts = (END - date(1970, 1, 1)).days * 86400 + 86399  # naive wall time, no time zone
    secs = end_ts - rng.integers(0, span, orders)
    order = np.argsort(secs, kind="stable")
    cust, secs = cust[order], secs[order]
    cents = np.round(rng.lognormal(np.log(180.0), 0.9, orders) * 100).astype(np.int64) + 100

    def ids(prefix: str, values: np.ndarray, width: int) -> pa.Array:
        text = pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), width, "0")
        return pc.binary_join_element_wise(prefix, text, "")

    table = pa.table({
        "order_id": ids("O", np.arange(1, orders + 1), 10),
        "customer_id": ids("C", cust + 1, 8),
        "ordered_at": pa.array(secs, pa.timestamp("s")),
        "amount": pc.binary_join_element_wise(  # "123.45" from integer cents, no float rounding
            pc.cast(pa.array(cents // 100), pa.string()),
            pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0"),
            "."),
        "status": pa.DictionaryArray.from_arrays(
            pa.array(rng.choice(len(STATUSES), orders, p=STATUS_P).astype(np.int8)), pa.array(STATUSES)
        ).cast(pa.string()),
        "channel": pa.DictionaryArray.from_arrays(
            pa.array(rng.choice(len(CHANNELS), orders, p=CHANNEL_P).astype(np.int8)), pa.array(CHANNELS)
        ).cast(pa.string()),
    })
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, csv_path, pacsv.WriteOptions(quoting_style="none"))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": orders, "bytes": csv_path.stat().st_size}


def step_floor(csv_path: Path) -> dict:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    n = con.execute("SELECT count(*) FROM read_csv(?)", [str(csv_path)]).fetchone()[0]
    return {"seconds": time.perf_counter() - t0, "rows": n}


def _settings(store_dir: Path, *, predict: bool = False):  # noqa: ANN202 - kehu is imported in the child only
    from kehu.config import Settings

    return Settings(data_dir=store_dir, secret_key=SECRET, database_url=None, predict=predict, _env_file=None)


def step_import(csv_path: Path, store_dir: Path) -> dict:
    from kehu.ingest import import_file

    settings = _settings(store_dir)
    t0 = time.perf_counter()
    report = import_file(settings=settings, path=csv_path, kind="orders", format_name="generic")
    seconds = time.perf_counter() - t0
    c = report.counts
    return {"seconds": seconds, "rows": c.read, "inserted": c.inserted, "rejected": c.rejected,
            "new_customers": c.new_customers, "store_mb": _size_mb(store_dir),
            "history_seconds": report.history_seconds}


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


RFM_SQL = """
WITH purchases AS (
    SELECT customer_id, CAST(ordered_at AS DATE) AS day, CAST(round(amount * 100) AS BIGINT) AS cents
    FROM read_csv(?, types = {'amount': 'DECIMAL(18,2)'})
    WHERE lower(coalesce(status, '')) NOT IN ('refunded', 'cancelled')
),
features AS (
    SELECT customer_id,
           date_diff('day', max(day), DATE '{as_of}') AS recency_days,
           count(*) AS frequency,
           sum(cents) AS monetary_cents
    FROM purchases GROUP BY customer_id
),
cuts AS (
    SELECT quantile_cont(recency_days, [0.2, 0.4, 0.6, 0.8]) AS r,
           quantile_cont(frequency, [0.2, 0.4, 0.6, 0.8]) AS f,
           quantile_cont(monetary_cents, [0.2, 0.4, 0.6, 0.8]) AS m
    FROM features
)
SELECT f.*,
       1 + (recency_days < r[1])::INT + (recency_days < r[2])::INT + (recency_days < r[3])::INT
         + (recency_days < r[4])::INT AS r_score,
       1 + (frequency > f2[1])::INT + (frequency > f2[2])::INT + (frequency > f2[3])::INT
         + (frequency > f2[4])::INT AS f_score,
       1 + (monetary_cents > m[1])::INT + (monetary_cents > m[2])::INT + (monetary_cents > m[3])::INT
         + (monetary_cents > m[4])::INT AS m_score
FROM features f, (SELECT r, f AS f2, m FROM cuts)
"""


def step_rfm_sql(csv_path: Path) -> dict:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"CREATE TABLE rfm AS {RFM_SQL.replace('{as_of}', END.isoformat())}", [str(csv_path)])
    n = con.execute("SELECT count(*) FROM rfm").fetchone()[0]
    return {"seconds": time.perf_counter() - t0, "customers": n}


def step_classify_orders(store_dir: Path) -> dict:
    """e with the purchase history computed from the orders: the stored history removed first, as after a change
    of orders that no import made. The day after e's date, so that no snapshot is replaced."""
    from kehu.analytics.history import history_path
    from kehu.store.arrow import store_connect, transaction

    settings = _settings(store_dir)
    history_path(settings).unlink(missing_ok=True)
    out = step_classify(store_dir, as_of=END + timedelta(days=1))
    # Not measured: the snapshot goes again, so that e's date stays the newest for f and g (the pages and the list
    # indexes follow the newest snapshot).
    conn = store_connect(settings.store_url)
    try:
        with transaction(conn) as cur:
            cur.execute(f"DELETE FROM classifications WHERE snapshot_id = {int(out['snapshot_id'])}")
            cur.execute(f"DELETE FROM classification_snapshots WHERE id = {int(out['snapshot_id'])}")
    finally:
        conn.close()
    return out


def step_classify(store_dir: Path, *, predict: bool = False, engine: str = "duckdb", as_of: date = END) -> dict:
    try:
        from kehu.analytics import classify
    except ImportError as exc:
        return {"skipped": f"not available yet ({exc})"}
    settings = _settings(store_dir, predict=predict)
    out: dict = {}
    if engine == "spark":
        settings = settings.model_copy(update={"spark_conf": "spark.driver.memory=6g"})  # local[2]: 1 GB is too small
        try:
            from kehu.analytics.engines import spark_session
            t0 = time.perf_counter()
            spark_session(settings)  # local[2]: the JVM's start is reported apart from the classification
        except Exception as exc:  # noqa: BLE001 - no PySpark or no Java: reported, the other steps stand
            return {"skipped": f"Spark is not available ({exc})"}
        out["session_seconds"] = time.perf_counter() - t0
    if engine == "spark":  # the JVM's first queries load and compile classes: reported, then a warm run counts
        t0 = time.perf_counter()
        classify(settings=settings, as_of=as_of, refresh=False, engine=engine)
        out["first_run_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # e: the classification alone; f: as `kehu classify` runs it (models, then segments and list indexes);
    # h: e on Spark local[2] (orders from the same store, through a Parquet scratch file into Spark).
    result = classify(settings=settings, as_of=as_of, refresh=predict, engine=engine)
    out["seconds"] = time.perf_counter() - t0
    for attr in ("snapshot_id", "customers", "buyers", "seconds"):
        value = getattr(result, attr, None)
        if isinstance(value, int | dict):
            out["phases" if attr == "seconds" else attr] = value
    if predict and result.models:
        out["models"] = {k: v for k, v in result.models.items() if k != "seconds"}
        out["phases"].update(result.models.get("seconds", {}))
    return out


def step_pages(store_dir: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    import pages

    t0 = time.perf_counter()
    result = pages.measure(store_dir, clients=4, seconds=30)
    result["seconds"] = time.perf_counter() - t0
    return result


BASELINES = ("floor", "rfm_sql")
STEPS = {
    "generate": lambda a: step_generate(a.orders, a.customers, Path(a.csv)),
    "floor": lambda a: step_floor(Path(a.csv)),
    "import": lambda a: step_import(Path(a.csv), Path(a.store)),
    "rfm_sql": lambda a: step_rfm_sql(Path(a.csv)),
    "classify": lambda a: step_classify(Path(a.store)),
    "classify_orders": lambda a: step_classify_orders(Path(a.store)),
    "predict": lambda a: step_classify(Path(a.store), predict=True),
    "pages": lambda a: step_pages(Path(a.store)),
    "spark": lambda a: step_classify(Path(a.store), engine="spark"),
}


# --------------------------------------------------------------------------------------------- parent


_running: list[subprocess.Popen] = []  # the running step's child, stopped when the benchmark is stopped


def run_child(step: str, args: argparse.Namespace, csv_path: Path, store_dir: Path) -> dict:
    """Run one step in a child process; its JSON result plus wall time and the child's own peak RSS."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", step, "--orders", str(args.orders),
           "--customers", str(args.customers), "--csv", str(csv_path), "--store", str(store_dir)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, cwd=csv_path.parent)
    _running.append(proc)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    _running.remove(proc)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"step": step, "error": f"exit code {proc.returncode}", "wall_seconds": wall}
    result = json.loads(out.decode().strip().splitlines()[-1])
    result.update(step=step, wall_seconds=wall, peak_mb=usage.ru_maxrss / 1024)
    return result


def machine() -> dict:
    import duckdb

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"date": datetime.now().isoformat(timespec="seconds"), "nproc": os.cpu_count(), "cpu": cpu,
            "mem_gb": round(mem_gb, 1), "python": platform.python_version(), "duckdb": duckdb.__version__,
            "platform": platform.platform()}


LABELS = {
    "generate": "a. generate CSV",
    "floor": "b. DuckDB count(*) (floor)",
    "import": "c. kehu import → SQLite",
    "rfm_sql": "d. DuckDB RFM SQL (baseline)",
    "classify": "e. kehu classify",
    "classify_orders": "e2. kehu classify, history from the orders",
    "predict": "f. kehu classify + models",
    "pages": "g. web pages under load (30 s)",
    "spark": "h. kehu classify on Spark local[2]",
}


def add_ratios(results: dict[str, dict]) -> None:
    for step, base in (("import", "floor"), ("classify", "rfm_sql"), ("classify_orders", "rfm_sql"),
                       ("spark", "classify_orders")):
        r, b = results.get(step, {}), results.get(base, {})
        if "seconds" in r and b.get("seconds"):
            r["ratio"] = r["seconds"] / b["seconds"]
            r["baseline"] = base
    orders = results.get("generate", {}).get("rows")
    for r in results.values():
        rows = r.get("rows") or orders  # d and e: orders read per second
        if rows and r.get("seconds"):
            r["rows_per_s"] = rows / r["seconds"]
    checks = {}
    if "rows_per_s" in results.get("import", {}):
        checks["import ≥ 100,000 rows/s"] = results["import"]["rows_per_s"] >= TARGET_IMPORT_ROWS_S
    c = results.get("classify", {})
    if "ratio" in c:
        checks["classify ≤ 2× baseline"] = c["ratio"] <= TARGET_CLASSIFY_RATIO
        checks["classify peak < 4 GB"] = c["peak_mb"] < TARGET_CLASSIFY_MB
    checks.update(results.get("pages", {}).get("checks", {}))
    results["_checks"] = checks  # type: ignore[assignment]


def print_table(results: dict[str, dict], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for name in ("step", "time s", "peak MB", "rows/s", "ratio vs baseline"):
        table.add_column(name, justify="left" if name == "step" else "right")
    for step, label in LABELS.items():
        r = results.get(step)
        if r is None:
            continue
        if "seconds" not in r:
            table.add_row(label, r.get("error") or r.get("skipped") or "—", "", "", "")
            continue
        ratio = f"{r['ratio']:.2f}× {r['baseline']}" if "ratio" in r else ""
        rows = f"{r['rows_per_s']:,.0f}" if "rows_per_s" in r else ""
        table.add_row(label, f"{r['seconds']:.2f}", f"{r.get('peak_mb', 0):,.0f}", rows, ratio)
    console = Console(width=max(100, Console().width))
    console.print(table)
    pages = results.get("pages", {})
    for kind in ("list", "profile", "healthz"):
        if kind in pages:
            r = pages[kind]
            ratio = f", {r['ratio_to_healthz']:.1f}× /healthz" if "ratio_to_healthz" in r else ""
            console.print(f"pages {kind}: {r['requests']} requests, median {r['median_ms']:.0f} ms, "
                          f"p90 {r['p90_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms{ratio}")
    if "history_seconds" in results.get("import", {}):
        console.print(f"import: of which the purchase history for classification "
                      f"{results['import']['history_seconds']:.1f} s")
    spark = results.get("spark", {})
    if "first_run_seconds" in spark:
        console.print(f"spark: JVM start {spark['session_seconds']:.1f} s, first (cold) classification "
                      f"{spark['first_run_seconds']:.1f} s, warm {spark['seconds']:.1f} s "
                      f"(compute {spark.get('phases', {}).get('compute', 0):.1f} s)")
    for name, ok in results.get("_checks", {}).items():  # type: ignore[union-attr]
        console.print(f"{'[green]PASS' if ok else '[red]FAIL'}[/] {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000_000, help="orders in the generated CSV")
    parser.add_argument("--customers", type=int, default=1_000_000, help="distinct customers")
    parser.add_argument("--out", type=Path, default=Path("bench-data"), help="results.json goes here")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200,000 orders for 20,000 customers")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each DuckDB baseline; the fastest counts")
    parser.add_argument("--child", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(STEPS[args.child](args)))
        return 0
    if args.quick:
        args.orders, args.customers = 200_000, 20_000
    out = args.out.resolve()
    if out == (Path.cwd() / "kehu-data").resolve():
        parser.error("--out must not be ./kehu-data")
    scratch = out / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    csv_path, store_dir = scratch / "orders.csv", scratch / "store"
    results: dict[str, dict] = {}
    title = f"kehu benchmark: {args.orders:,} orders, {args.customers:,} customers"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the scratch folder is removed
    try:
        for step in STEPS:
            print(f"… {LABELS[step]}", file=sys.stderr, flush=True)
            # The DuckDB baselines take seconds and vary from run to run: the fastest of --repeat runs counts.
            runs = [run_child(step, args, csv_path, store_dir)
                    for _ in range(args.repeat if step in BASELINES else 1)]
            results[step] = min(runs, key=lambda r: r.get("seconds", float("inf")))
            if len(runs) > 1:
                results[step]["runs_seconds"] = [r.get("seconds") for r in runs]
            if step == "generate" and "error" in results[step]:
                break
    finally:
        for proc in _running:
            proc.kill()
            proc.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    add_ratios(results)
    print_table(results, title)
    report = {"orders": args.orders, "customers": args.customers, "as_of": END.isoformat(),
              "machine": machine(),
              "steps": {k: v for k, v in results.items() if not k.startswith("_")},
              "checks": results.get("_checks", {})}
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    (out / "results.json").write_text(text, encoding="utf-8")
    print(f"results: {out / 'results.json'}", file=sys.stderr)
    return 1 if any("error" in r for r in report["steps"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
