"""kehu CLV models benchmark: BG/NBD + Gamma-Gamma fit and scoring, beside the ``lifetimes`` package, same data.

Usage (part of ``make bench``)::

    .venv/bin/python benchmarks/models.py [--sizes 10000,100000,1000000,10000000] [--lifetimes-max 1000000]
                                          [--timeout 900] [--out bench-data] [--quick]

For each size N, customers are simulated from known BG/NBD and Gamma-Gamma parameters (seeded; whole days, ages
of 30 to 730 days; spend in cents), then in separate child processes:

a. ``kehu``       ``BetaGeoModel(time_unit="days").fit`` + ``GammaGammaModel.fit`` on the repeat buyers, then
                  P(alive), expected purchases in 90 days and the 12-month CLV of every customer;
b. ``lifetimes``  ``BetaGeoFitter().fit`` + ``GammaGammaFitter().fit`` the way its documentation shows them (one row
                  per customer), then ``conditional_probability_alive``,
                  ``conditional_expected_number_of_purchases_up_to_time(90, …)`` and ``customer_lifetime_value``
                  (12 months, 1% a month), up to ``--lifetimes-max`` customers and within ``--timeout`` seconds.

Printed: fit and score seconds of each, the speed-up (lifetimes' total / kehu's total), and whether the estimates
agree to 3 significant digits. Fit time "nearly flat" from 10⁴ to 10⁷ customers is read off kehu's fit column: the
fit runs on the distinct (x, t_x, T) triples, whose number grows far slower than the customers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SEED = 20261126
TRUE_BG = {"r": 0.25, "alpha": 4.0 * 7, "a": 0.8, "b": 2.5}  # alpha in days (4 weeks)
TRUE_GG = {"p": 6.0, "q": 3.8, "v": 15.0}
MAX_AGE_DAYS = 730


def simulate(n: int, seed: int = SEED) -> dict:
    """x, t_x, T (whole days) and mean repeat spend (yuan, cents precision) for ``n`` customers."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE_BG["r"], 1.0 / TRUE_BG["alpha"], n)
    p = rng.beta(TRUE_BG["a"], TRUE_BG["b"], n)
    age = rng.integers(30, MAX_AGE_DAYS + 1, n).astype("float64")
    x = np.zeros(n)
    t_x = np.zeros(n)
    t = np.zeros(n)
    active = np.arange(n)
    while active.size:
        t[active] += rng.exponential(1.0 / lam[active])
        bought = t[active] <= age[active]
        active = active[bought]
        x[active] += 1
        t_x[active] = t[active]
        active = active[rng.random(active.size) >= p[active]]  # drops out after the purchase with probability p
    t_x = np.floor(t_x)
    nu = rng.gamma(TRUE_GG["q"], 1.0 / TRUE_GG["v"], n)
    spend = np.where(x > 0, rng.gamma(TRUE_GG["p"] * np.maximum(x, 1), 1.0 / nu) / np.maximum(x, 1), 0.0)
    spend = np.round(spend, 2)
    repeat = x > 0
    spend[repeat & (spend <= 0)] = 0.01
    return {"x": x, "t_x": t_x, "T": age, "m": spend}


def child_kehu(n: int) -> dict:
    import numpy as np

    from kehu.models.beta_geo import BetaGeoModel
    from kehu.models.clv import customer_lifetime_value
    from kehu.models.gamma_gamma import GammaGammaModel

    d = simulate(n)
    t0 = time.perf_counter()
    bg = BetaGeoModel(time_unit="days").fit(d["x"], d["t_x"], d["T"])
    repeat = d["x"] > 0
    gg = GammaGammaModel().fit(d["x"][repeat], d["m"][repeat])
    fit = time.perf_counter() - t0
    t1 = time.perf_counter()
    p_alive = bg.probability_alive(d["x"], d["t_x"], d["T"])
    e90 = bg.expected_purchases(90, d["x"], d["t_x"], d["T"])
    clv = customer_lifetime_value(bg, gg, d["x"], d["t_x"], d["T"], d["m"], horizon_months=12,
                                  monthly_discount_rate=0.01)
    score = time.perf_counter() - t1
    return {"fit": fit, "score": score, "bg": bg.params_, "gg": gg.params_, "triples": bg.n_triples_,
            "p_alive_mean": float(np.mean(p_alive)), "e90_sum": float(np.sum(e90)), "clv_sum": float(np.sum(clv))}


def child_lifetimes(n: int) -> dict:
    import numpy as np
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    d = simulate(n)
    t0 = time.perf_counter()
    bg = BetaGeoFitter().fit(d["x"], d["t_x"], d["T"])
    repeat = d["x"] > 0
    gg = GammaGammaFitter().fit(d["x"][repeat], d["m"][repeat])
    fit = time.perf_counter() - t0
    t1 = time.perf_counter()
    p_alive = bg.conditional_probability_alive(d["x"], d["t_x"], d["T"])
    e90 = bg.conditional_expected_number_of_purchases_up_to_time(90, d["x"], d["t_x"], d["T"])
    clv = gg.customer_lifetime_value(bg, pd.Series(d["x"]), pd.Series(d["t_x"]), pd.Series(d["T"]),
                                     pd.Series(d["m"]), time=12, discount_rate=0.01, freq="D")
    score = time.perf_counter() - t1
    return {"fit": fit, "score": score, "bg": {k: float(v) for k, v in bg.params_.items()},
            "gg": {k: float(v) for k, v in gg.params_.items()},
            "p_alive_mean": float(np.mean(p_alive)), "e90_sum": float(np.sum(e90)), "clv_sum": float(np.sum(clv))}


CHILDREN = {"kehu": child_kehu, "lifetimes": child_lifetimes}


def run_child(which: str, n: int, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", which, "--n", str(n)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return {"error": f"exit code {proc.returncode}: {tail[0][:200]}"}
    result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - t0
    return result


def agree(a: dict, b: dict, digits: int = 3) -> bool:
    """The same estimates to ``digits`` significant digits."""
    from math import isclose

    return all(isclose(a[k], b[k], rel_tol=0.5 * 10 ** (1 - digits)) for k in a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000,10000000", help="customer counts, comma-separated")
    parser.add_argument("--lifetimes-max", type=int, default=1_000_000, help="largest size lifetimes is run on")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a lifetimes run is stopped")
    parser.add_argument("--out", type=Path, default=Path("bench-data"), help="models.json goes here")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 and 100,000 customers")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.n)))
        return 0
    sizes = [10_000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    from rich.console import Console
    from rich.table import Table

    rows = []
    for n in sizes:
        print(f"… {n:,} customers: kehu", file=sys.stderr, flush=True)
        k = run_child("kehu", n, args.timeout)
        lt: dict = {"skipped": f"above --lifetimes-max {args.lifetimes_max:,}"}
        if n <= args.lifetimes_max:
            print(f"… {n:,} customers: lifetimes", file=sys.stderr, flush=True)
            lt = run_child("lifetimes", n, args.timeout)
        row = {"customers": n, "kehu": k, "lifetimes": lt}
        if "fit" in k and "fit" in lt:
            row["speedup"] = (lt["fit"] + lt["score"]) / (k["fit"] + k["score"])
            row["same_bg"] = agree(k["bg"], lt["bg"])
            row["same_gg"] = agree(k["gg"], lt["gg"])
        rows.append(row)
    table = Table(title="BG/NBD + Gamma-Gamma: fit and score every customer (seconds)")
    for name in ("customers", "triples", "kehu fit", "kehu score", "lifetimes fit", "lifetimes score", "speed-up",
                 "same estimates (3 s.f.)"):
        table.add_column(name, justify="right")
    for row in rows:
        k, lt = row["kehu"], row["lifetimes"]
        same = "" if "same_bg" not in row else ("yes" if row["same_bg"] and row["same_gg"] else "NO")
        table.add_row(f"{row['customers']:,}", f"{k.get('triples', 0):,}", f"{k['fit']:.2f}" if "fit" in k else
                      k.get("error", ""), f"{k['score']:.2f}" if "score" in k else "",
                      f"{lt['fit']:.2f}" if "fit" in lt else lt.get("error") or lt.get("skipped", ""),
                      f"{lt['score']:.2f}" if "score" in lt else "",
                      f"{row['speedup']:.0f}×" if "speedup" in row else "", same)
    Console(width=max(110, Console().width)).print(table)
    for row in rows:
        print(f"{row['customers']:,} kehu:      BG/NBD {row['kehu'].get('bg')} GG {row['kehu'].get('gg')}")
        if "bg" in row["lifetimes"]:
            print(f"{row['customers']:,} lifetimes: BG/NBD {row['lifetimes']['bg']} GG {row['lifetimes']['gg']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "models.json").write_text(json.dumps({"true": {"bg": TRUE_BG, "gg": TRUE_GG}, "rows": rows},
                                                     indent=2) + "\n", encoding="utf-8")
    print(f"results: {args.out / 'models.json'}", file=sys.stderr)
    return 1 if any("error" in r["kehu"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
