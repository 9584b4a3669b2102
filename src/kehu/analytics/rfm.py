"""RFM scores, the 8-class Chinese RFM model and the score-grid groups, as Ibis expressions (DESIGN.md).

Scores: over customers with at least one order, the 20/40/60/80th percentiles (linear interpolation, numpy's
default) of each feature are the cut points; F and M score = 1 + the number of cut points the value exceeds, R score =
1 + the number of recency cut points the customer's recency is below. Equal values get equal scores.

8 classes: R, F, M are "high" when strictly better than the population mean (or median): fewer recency days, more
orders, more money. The mean comparison is made in integers (``value · n`` against ``sum``), so it is exact on every
engine.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from kehu.analytics.labels import RFM_CLASS_BY_HML, RFM_GRID

QUANTILES = (0.2, 0.4, 0.6, 0.8)
FEATURES = {"r": "recency_days", "f": "frequency", "m": "monetary_cents"}


def population_stats(features: ir.Table, *, split: str = "mean") -> ir.Table:
    """One row: the four cut points of each feature (``r_q1``…``m_q4``), the buyer count ``n`` and, for the
    8-class split, ``r_sum``/``f_sum``/``m_sum`` (mean split) or ``r_mid``/``f_mid``/``m_mid`` (median split)."""
    buyers = features.filter(features.frequency > 0)
    metrics: dict[str, ir.Value] = {"n": buyers.count()}
    for key, column in FEATURES.items():
        col = buyers[column]
        for i, q in enumerate(QUANTILES, start=1):
            metrics[f"{key}_q{i}"] = col.quantile(q).cast("float64")
        if split == "mean":
            metrics[f"{key}_sum"] = col.sum().cast("int64")
        else:
            metrics[f"{key}_mid"] = col.median().cast("float64")
    return buyers.aggregate(**metrics)


def _score(value: ir.NumericValue, stats: ir.Table, key: str, *, lower_is_better: bool) -> ir.IntegerValue:
    total: ir.IntegerValue = ibis.literal(1, "int8")
    for i in range(1, 5):
        cut = stats[f"{key}_q{i}"]
        hit = value < cut if lower_is_better else value > cut
        total = total + ibis.ifelse(hit, 1, 0).cast("int8")  # PostgreSQL casts no boolean to smallint
    return total.cast("int8")


def _high(value: ir.NumericValue, stats: ir.Table, key: str, split: str, *, lower_is_better: bool) -> ir.BooleanValue:
    if split == "mean":
        scaled, total = value * stats.n, stats[f"{key}_sum"]
    else:
        scaled, total = value, stats[f"{key}_mid"]
    return scaled < total if lower_is_better else scaled > total


def grid_group(r_score: ir.IntegerValue, f_score: ir.IntegerValue) -> ir.StringValue:
    """The score-grid group code for (R score, F score), from DESIGN.md's 5×5 table."""
    cases = [((r_score == r) & (f_score == f), group) for r, row in RFM_GRID.items() for f, group in row.items()]
    return ibis.cases(*cases, else_=ibis.null("string"))


def rfm_table(features: ir.Table, *, split: str = "mean", stats: ir.Table | None = None) -> ir.Table:
    """``features`` plus ``r_score``, ``f_score``, ``m_score`` (NULL for prospects), ``rfm_class`` (8-class code,
    NULL for prospects) and ``rfm_group`` (grid group; ``prospect`` without orders).

    ``stats``: :func:`population_stats` of ``features`` when already computed (then not computed again)."""
    stats = population_stats(features, split=split) if stats is None else stats
    joined = features.cross_join(stats)
    is_buyer = joined.frequency > 0
    r = _score(joined.recency_days, stats, "r", lower_is_better=True)
    f = _score(joined.frequency, stats, "f", lower_is_better=False)
    m = _score(joined.monetary_cents, stats, "m", lower_is_better=False)
    r_hi = _high(joined.recency_days, stats, "r", split, lower_is_better=True)
    f_hi = _high(joined.frequency, stats, "f", split, lower_is_better=False)
    m_hi = _high(joined.monetary_cents, stats, "m", split, lower_is_better=False)
    klass = ibis.cases(
        *[((r_hi == rh) & (f_hi == fh) & (m_hi == mh), code) for (rh, fh, mh), code in RFM_CLASS_BY_HML.items()],
        else_=ibis.null("string"),
    )
    scored = joined.mutate(
        r_score=ibis.ifelse(is_buyer, r, ibis.null("int8")),
        f_score=ibis.ifelse(is_buyer, f, ibis.null("int8")),
        m_score=ibis.ifelse(is_buyer, m, ibis.null("int8")),
        rfm_class=ibis.ifelse(is_buyer, klass, ibis.null("string")),
    )
    scored = scored.mutate(
        rfm_group=ibis.ifelse(scored.frequency > 0, grid_group(scored.r_score, scored.f_score), "prospect")
    )
    return scored.select(*features.columns, "r_score", "f_score", "m_score", "rfm_class", "rfm_group")
