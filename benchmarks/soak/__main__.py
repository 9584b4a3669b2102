"""Entry point: ``.venv/bin/python benchmarks/soak [--seconds 300] [--clients 50]`` (``make soak``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `soak` as a package, run as a folder

from soak import faults, report  # noqa: E402
from soak.deploy import Deployment, phones  # noqa: E402
from soak.load import Recorder, run_load, summary  # noqa: E402


def _machine() -> dict[str, Any]:
    free = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "free_g": free, "platform": platform.platform(),
            "python": platform.python_version()}


def _phase(results: dict[str, Any], name: str, run: Any) -> bool:
    """Run one phase; an exception is the phase's failure (recorded), not the harness's end."""
    t0 = time.monotonic()
    try:
        found = run()
    except Exception as exc:  # noqa: BLE001 - every phase must be reported, and the teardown must run
        found = {"ok": False, "problems": [f"{type(exc).__name__}: {exc}"]}
    found["phase_s"] = time.monotonic() - t0
    results["phases"][name] = found
    print(f"[soak] {name}: {'ok' if found['ok'] else 'FAILED'} in {found['phase_s']:.0f} s", flush=True)
    return bool(found["ok"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="kehu under load and faults on PostgreSQL (127.0.0.1 only).")
    parser.add_argument("--seconds", type=float, default=300, help="length of the load phase (default 300)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="kehu serve --workers (default 2)")
    parser.add_argument("--big-import", type=int, default=100_000, help="orders of the server-kill import")
    parser.add_argument("--out", type=Path, default=Path("soak-results.json"), help="the JSON results file")
    parser.add_argument("--skip-faults", action="store_true", help="the load phase only")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 500 or not 1 <= args.seconds <= 3600:
        parser.error("--clients 1–500 and --seconds 1–3600")

    results: dict[str, Any] = {"started": datetime.now().isoformat(timespec="seconds"), "seconds": args.seconds,
                               "clients": args.clients, "workers": args.workers, "machine": _machine(),
                               "phases": {}}
    dep = Deployment(workers=args.workers)
    t_all = time.monotonic()
    shared: dict[str, Any] = {}
    try:
        dep.create()

        def deploy() -> dict[str, Any]:
            demo = dep.load_demo()
            t0 = time.monotonic()
            dep.start_server()
            dep.make_api_key()
            shared.update(customers=demo["customers"], phones=phones(Path(demo["customers_csv"])))
            return {"ok": True, **demo, "serve_start_s": time.monotonic() - t0, "database": dep.name,
                    "note": f"{demo['customers']:,} customers, {demo['orders']:,} orders"}

        if _phase(results, "deploy", deploy):
            recorder = Recorder(strict=True)

            def load() -> dict[str, Any]:
                wall = asyncio.run(run_load(base=dep.server.base, api_key=dep.api_key,  # type: ignore[union-attr]
                                            password=dep.password, customers=shared["customers"],
                                            phones=shared["phones"], clients=args.clients, seconds=args.seconds,
                                            recorder=recorder))
                found = summary(recorder, wall)
                return {"ok": not recorder.failures and bool(found["kinds"]), "problems": recorder.failures[:20],
                        "summary": found}

            _phase(results, "load", load)
            if not args.skip_faults:
                _phase(results, "pg_restart", lambda: faults.pg_restart(
                    dep, clients=args.clients, phones=shared["phones"], customers=shared["customers"]))
                _phase(results, "classify_killed", lambda: faults.classify_killed(dep))
                _phase(results, "server_killed", lambda: faults.server_killed(
                    dep, customers=shared["customers"], orders=args.big_import))
            _phase(results, "store_consistent", lambda: faults.no_duplicates(dep, recorder.imported))
    except KeyboardInterrupt:
        results["phases"]["interrupted"] = {"ok": False, "problems": ["interrupted"]}
    finally:
        results["teardown"] = dep.destroy()
        results["total_s"] = time.monotonic() - t_all
        results["ok"] = bool(results["phases"]) and all(p.get("ok") for p in results["phases"].values())
        report.write(results, args.out)
    report.show(results)
    print(f"[soak] {'PASSED' if results['ok'] else 'FAILED'} in {results['total_s']:.0f} s; figures in {args.out}; "
          + "; ".join(results["teardown"]))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
