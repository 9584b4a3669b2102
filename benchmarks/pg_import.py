"""kehu's import into PostgreSQL against a bare ``COPY`` of the same file.

Usage::

    .venv/bin/python benchmarks/pg_import.py [--rows 2000000] [--customers N] [--out bench-pg]
                                             [--pg "host=127.0.0.1 port=5432 user=postgres dbname=postgres"]

Steps, each in its own child process so that its wall time and peak memory (the child's ``ru_maxrss`` from
``os.wait4``) are its own:

a. ``generate``  the seeded generic orders CSV of ``benchmarks/run.py`` (``--rows`` orders, ``--customers``
                 customers, default a tenth of the rows);
b. ``kehu``      ``kehu.ingest.import_file`` (format ``generic``) into a fresh PostgreSQL database; the schema is
                 created before the clock starts;
c. ``copy``      the baseline: ``COPY orders FROM STDIN (FORMAT csv, HEADER)`` of the same file, streamed through
                 psycopg, into a plain table of text and numeric columns in another fresh database.

Both databases (``kehu_bench_<random>`` on the server ``--pg`` names, which needs ``CREATEDB``) are dropped at the
end, as is the scratch folder ``OUT/scratch``; ``OUT/pg_import.json`` keeps the results. "time s" is the step's own
work measured inside the child (interpreter start and imports excluded); "peak MB" is the child's whole peak
resident memory. The CSV is in the page cache for both b and c (a reads it back to count its bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

SECRET = "kehu-benchmark-secret-key-0123456789abcd"  # fixed 40 characters: the store is thrown away
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
COPY_TABLE = """CREATE TABLE orders (order_id text, customer_id text, ordered_at text, amount numeric,
                                   status text, channel text)"""
COPY_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------- child steps


def step_generate(rows: int, customers: int, csv_path: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    import run  # benchmarks/run.py: the same generator as `make bench`

    return run.step_generate(rows, customers, csv_path)


def step_kehu(csv_path: Path, url: str, data_dir: Path) -> dict:
    from kehu.config import Settings
    from kehu.ingest import import_file
    from kehu.store import open_store

    settings = Settings(data_dir=data_dir, database_url=url, secret_key=SECRET, _env_file=None)
    open_store(url)
    t0 = time.perf_counter()
    report = import_file(settings=settings, path=csv_path, kind="orders", format_name="generic")
    seconds = time.perf_counter() - t0
    c = report.counts
    return {"seconds": seconds, "rows": c.read, "inserted": c.inserted, "rejected": c.rejected,
            "new_customers": c.new_customers}


def step_copy(csv_path: Path, conninfo: str) -> dict:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        conn.execute(COPY_TABLE)
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy("COPY orders FROM STDIN (FORMAT csv, HEADER)") as copy, csv_path.open("rb") as fh:
                while chunk := fh.read(COPY_CHUNK):
                    copy.write(chunk)
            conn.commit()
            seconds = time.perf_counter() - t0
            rows = cur.execute("SELECT count(*) FROM orders").fetchone()
    return {"seconds": seconds, "rows": rows[0] if rows else 0}


# --------------------------------------------------------------------------------------------- parent


def run_child(argv: list[str], label: str) -> dict:
    """Run ``benchmarks/pg_import.py --child …`` and return its JSON result with wall time and peak RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", *argv], stdout=subprocess.PIPE,
                            env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"step {label} failed (exit code {code})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result.update(step=label, wall_seconds=wall, peak_mb=usage.ru_maxrss / 1024)
    return result


def _database(admin: str, name: str, *, create: bool) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')
        else:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _conninfo(admin: str, name: str) -> str:
    import psycopg

    params = psycopg.conninfo.conninfo_to_dict(admin)
    params["dbname"] = name
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


def _sqlalchemy_url(admin: str, name: str) -> str:
    import psycopg
    from sqlalchemy.engine import URL

    params = psycopg.conninfo.conninfo_to_dict(admin)
    return URL.create("postgresql+psycopg", username=params.get("user"), password=params.get("password"),
                      host=params.get("host"), port=int(params.get("port") or 5432),
                      database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="orders in the generated file")
    parser.add_argument("--customers", type=int, default=None, help="customers (default: a tenth of the rows)")
    parser.add_argument("--out", default="bench-pg", help="folder for pg_import.json and the scratch files")
    parser.add_argument("--pg", default=PG_ADMIN, help="libpq connection string of a role that may create databases")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        steps = {
            "generate": lambda: step_generate(args.rows, args.customers, Path(args.csv)),
            "kehu": lambda: step_kehu(Path(args.csv), args.target, Path(args.data)),
            "copy": lambda: step_copy(Path(args.csv), args.target),
        }
        print(json.dumps(steps[args.child]()))
        return
    customers = args.customers or max(1, args.rows // 10)
    out = Path(args.out)
    scratch = out / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    csv_path = scratch / f"orders-{args.rows}.csv"
    names = {step: f"kehu_bench_{uuid.uuid4().hex[:12]}" for step in ("kehu", "copy")}
    results = []
    try:
        results.append(run_child(["generate", "--rows", str(args.rows), "--customers", str(customers),
                                  "--csv", str(csv_path)], "generate"))
        for name in names.values():
            _database(args.pg, name, create=True)
        results.append(run_child(["kehu", "--csv", str(csv_path), "--target", _sqlalchemy_url(args.pg, names["kehu"]),
                                  "--data", str(scratch / "data")], "kehu"))
        results.append(run_child(["copy", "--csv", str(csv_path), "--target", _conninfo(args.pg, names["copy"])],
                                 "copy"))
    finally:
        for name in names.values():
            _database(args.pg, name, create=False)
        shutil.rmtree(scratch, ignore_errors=True)
    by_step = {r["step"]: r for r in results}
    ratio = by_step["kehu"]["seconds"] / by_step["copy"]["seconds"]
    summary = {"rows": args.rows, "customers": customers, "steps": results, "kehu_over_copy": ratio}
    (out / "pg_import.json").write_text(json.dumps(summary, indent=2))
    print(f"{args.rows:,} orders of {customers:,} customers into PostgreSQL")
    print(f"{'step':<10}{'time s':>9}{'rows/s':>11}{'peak MB':>9}")
    for r in results:
        rate = f"{args.rows / r['seconds']:>11,.0f}" if r["step"] != "generate" else f"{'':>11}"
        print(f"{r['step']:<10}{r['seconds']:>9.1f}{rate}{r['peak_mb']:>9.0f}")
    print(f"kehu import / bare COPY: {ratio:.1f}× the time")


if __name__ == "__main__":
    main()
