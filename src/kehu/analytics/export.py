"""Exporting a classification snapshot: one row per customer, as CSV (UTF-8 with BOM, for Excel), XLSX or Parquet."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from kehu.analytics.labels import LIFECYCLE_STAGES, RFM_CLASSES, RFM_GROUPS
from kehu.config import Settings
from kehu.errors import InvalidInput, NotFound
from kehu.models.reasons import reason_text
from kehu.store import open_store
from kehu.store.arrow import is_sqlite_url, read_arrow

EXPORT_COLUMNS = (
    "customer_id", "recency_days", "frequency", "monetary", "aov", "r_score", "f_score", "m_score", "rfm_class",
    "rfm_class_en", "rfm_group", "rfm_group_zh", "lifecycle_stage", "lifecycle_stage_zh", "first_order_date",
    "last_order_date", "p_alive", "expected_purchases_90d", "expected_purchases_365d", "expected_aov", "clv_365d",
    "clv_tier", "churn_risk", "churn_reasons", "churn_reasons_zh", "cluster", "cluster_zh", "recommendations",
)
XLSX_MAX_ROWS = 1_048_575


def find_snapshot(url: str, as_of: date | None) -> tuple[int, date]:
    """The ready snapshot for ``as_of`` (or the newest one); raises NotFound saying what exists."""
    where = f"AND as_of = '{as_of.isoformat()}'" if as_of else ""
    rows = read_arrow(url, f"SELECT id, as_of FROM classification_snapshots WHERE status = 'ready' {where} "
                           "ORDER BY as_of DESC, id DESC LIMIT 1").to_pylist()
    if not rows:
        dates = read_arrow(url, "SELECT DISTINCT as_of FROM classification_snapshots WHERE status = 'ready' "
                                "ORDER BY as_of").column("as_of").to_pylist()
        if not dates:
            raise NotFound("no classification snapshot yet; run `kehu classify` first")
        raise NotFound(f"no snapshot as of {as_of}; snapshots exist for: {', '.join(str(d) for d in dates)}")
    as_of_value = rows[0]["as_of"]
    return int(rows[0]["id"]), as_of_value if isinstance(as_of_value, date) else date.fromisoformat(str(as_of_value))


def _yuan(cents: pa.ChunkedArray) -> pa.Array:
    return pa.array([None if c is None else Decimal(c).scaleb(-2) for c in cents.to_pylist()], pa.decimal128(18, 2))


def _names(codes: pa.ChunkedArray, table: dict[str, tuple[str, str]], index: int) -> pa.Array:
    return pa.array([None if c is None else table.get(c, (c, c))[index] for c in codes.to_pylist()], pa.string())


def snapshot_table(url: str, snapshot_id: int) -> pa.Table:
    """The export columns (:data:`EXPORT_COLUMNS`) of one snapshot, ordered by customer id."""
    rows = read_arrow(url, f"""
        SELECT c.external_id AS customer_id, k.recency_days, k.frequency, k.monetary_cents, k.aov_cents,
               k.r_score, k.f_score, k.m_score, k.rfm_class, k.rfm_group, k.lifecycle_stage,
               k.first_order_date, k.last_order_date, k.p_alive, k.expected_purchases_90d,
               k.expected_purchases_365d, k.expected_aov_cents, k.clv_365d_cents, k.clv_tier, k.churn_risk,
               k.churn_reasons, k.cluster, k.recommendations
        FROM classifications k JOIN customers c ON c.id = k.customer_id
        WHERE k.snapshot_id = {snapshot_id}
        ORDER BY c.external_id
    """)
    date_type = pa.date32()
    columns = {
        "customer_id": rows["customer_id"],
        "recency_days": pc.cast(rows["recency_days"], pa.int64()),
        "frequency": pc.cast(rows["frequency"], pa.int64()),
        "monetary": _yuan(rows["monetary_cents"]),
        "aov": _yuan(rows["aov_cents"]),
        "r_score": pc.cast(rows["r_score"], pa.int8()),
        "f_score": pc.cast(rows["f_score"], pa.int8()),
        "m_score": pc.cast(rows["m_score"], pa.int8()),
        "rfm_class": _names(rows["rfm_class"], RFM_CLASSES, 0),
        "rfm_class_en": _names(rows["rfm_class"], RFM_CLASSES, 1),
        "rfm_group": rows["rfm_group"],
        "rfm_group_zh": _names(rows["rfm_group"], RFM_GROUPS, 0),
        "lifecycle_stage": rows["lifecycle_stage"],
        "lifecycle_stage_zh": _names(rows["lifecycle_stage"], LIFECYCLE_STAGES, 0),
        "first_order_date": _as_date(rows["first_order_date"], date_type),
        "last_order_date": _as_date(rows["last_order_date"], date_type),
        "p_alive": _rounded(rows["p_alive"], 4),
        "expected_purchases_90d": _rounded(rows["expected_purchases_90d"], 3),
        "expected_purchases_365d": _rounded(rows["expected_purchases_365d"], 3),
        "expected_aov": _yuan(pc.cast(rows["expected_aov_cents"], pa.int64())),
        "clv_365d": _yuan(pc.cast(rows["clv_365d_cents"], pa.int64())),
        "clv_tier": pc.cast(rows["clv_tier"], pa.string()),
        "churn_risk": _rounded(rows["churn_risk"], 4),
        "churn_reasons": _reasons(rows["churn_reasons"], "en"),
        "churn_reasons_zh": _reasons(rows["churn_reasons"], "zh"),
    }
    names = cluster_names(url, snapshot_id)
    columns["cluster"] = _cluster_names(rows["cluster"], names, 1)
    columns["cluster_zh"] = _cluster_names(rows["cluster"], names, 0)
    columns["recommendations"] = _skus(url, rows["recommendations"])
    return pa.table(columns)


def _rounded(values: pa.ChunkedArray, digits: int) -> pa.ChunkedArray:
    return pc.round(pc.cast(values, pa.float64()), digits)


def _reasons(values: pa.ChunkedArray, language: Literal["zh", "en"]) -> pa.Array:
    """The stored reasons (JSON) as one text per customer, reasons separated by "; "."""
    sep = "；" if language == "zh" else "; "
    return pa.array([None if v is None else sep.join(reason_text(r, language) for r in json.loads(v))
                     for v in pc.cast(values, pa.string()).to_pylist()], pa.string())


def cluster_names(url: str, snapshot_id: int) -> dict[int, tuple[str, str]]:
    """Cluster number → (Chinese, English) name, from the snapshot's model report (empty when there is none)."""
    raw = read_arrow(url, f"SELECT models FROM classification_snapshots WHERE id = {snapshot_id}",
                     pa.schema([("models", pa.string())]) if is_sqlite_url(url) else None).column(0)[0].as_py()
    models = json.loads(raw) if isinstance(raw, str) else (raw or {})
    clusters = (models.get("clusters") or {}).get("clusters") or []
    return {int(c["id"]): (str(c["name_zh"]), str(c["name_en"])) for c in clusters}


def _cluster_names(values: pa.ChunkedArray, names: dict[int, tuple[str, str]], index: int) -> pa.Array:
    return pa.array([None if v is None else names.get(int(v), (str(v), str(v)))[index]
                     for v in pc.cast(values, pa.int64()).to_pylist()], pa.string())


def _skus(url: str, values: pa.ChunkedArray) -> pa.Array:
    """The stored recommendations (JSON product ids) as SKUs separated by "|"."""
    texts = pc.cast(values, pa.string()).to_pylist()
    if not any(texts):
        return pa.nulls(len(texts), pa.string())
    products = read_arrow(url, "SELECT id, sku FROM products").to_pylist()
    sku = {int(p["id"]): str(p["sku"]) for p in products}
    return pa.array([None if v is None else "|".join(sku.get(i, str(i)) for i in json.loads(v)) for v in texts],
                    pa.string())


def _as_date(values: pa.ChunkedArray, date_type: pa.DataType) -> pa.ChunkedArray:
    if pa.types.is_date(values.type):
        return values
    if pa.types.is_timestamp(values.type):
        return pc.cast(values, date_type)
    return pc.cast(pc.strptime(values, format="%Y-%m-%d", unit="s"), date_type)


def neutralise_formulas(values: list[str | None]) -> list[str | None]:
    """Prefix cells that a spreadsheet would run as a formula (= + - @ tab CR) with an apostrophe."""
    return [("'" + v) if v and v[0] in "=+-@\t\r" else v for v in values]


def export_classifications(*, settings: Settings, out: Path, as_of: date | None = None) -> tuple[int, date]:
    """Write a snapshot (``as_of`` or the newest) to ``out``; the suffix picks the format. Returns (rows, as-of)."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".parquet"):
        raise InvalidInput(f"{out}: unknown export format {suffix or '(no suffix)'}; use .csv, .xlsx or .parquet")
    url = settings.store_url
    open_store(url)
    snapshot_id, snapshot_as_of = find_snapshot(url, as_of)
    table = snapshot_table(url, snapshot_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, out)
        return table.num_rows, snapshot_as_of
    safe_ids = pa.array(neutralise_formulas(table["customer_id"].to_pylist()), pa.string())
    table = table.set_column(0, "customer_id", safe_ids)
    if suffix == ".csv":
        import pyarrow.csv as pacsv

        with out.open("wb") as fh:
            fh.write("\ufeff".encode())
            pacsv.write_csv(table, fh)
    else:
        _write_xlsx(table, out)
    return table.num_rows, snapshot_as_of


def _write_xlsx(table: pa.Table, out: Path) -> None:
    import openpyxl

    if table.num_rows > XLSX_MAX_ROWS:
        raise InvalidInput(f"{out}: {table.num_rows} rows do not fit in one XLSX sheet (max {XLSX_MAX_ROWS}); "
                           "export to .csv or .parquet")
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("classifications")
    sheet.append(table.column_names)
    columns = [table[c].to_pylist() for c in table.column_names]
    for row in zip(*columns, strict=True):
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
    book.save(out)
