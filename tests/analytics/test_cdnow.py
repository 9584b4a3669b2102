"""The full CDNOW log through import, classification at 1998-06-30 and export, against an independent computation
(pandas + numpy straight from the raw file, sharing no code with kehu)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kehu.sample
from kehu.analytics import classify
from kehu.analytics.export import export_classifications
from kehu.config import Settings
from kehu.ingest import import_file

CDNOW_MASTER = Path(kehu.sample.__file__).parent / "cdnow" / "CDNOW_master.txt"

AS_OF = date(1998, 6, 30)


def independent(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, sep=r"\s+", skiprows=1, header=None, names=["cid", "day", "cds", "usd"],
                      dtype={"cid": str, "day": str})
    raw["date"] = pd.to_datetime(raw["day"], format="%Y%m%d")
    raw["cents"] = (raw["usd"] * 100).round().astype("int64")
    g = raw.groupby("cid")
    df = pd.DataFrame({
        "recency_days": (pd.Timestamp(AS_OF) - g["date"].max()).dt.days,
        "frequency": g.size(),
        "monetary_cents": g["cents"].sum(),
    })
    cuts = {c: np.percentile(df[c], [20, 40, 60, 80]) for c in df.columns}
    df["r_score"] = 1 + sum((df["recency_days"] < q).astype(int) for q in cuts["recency_days"])
    df["f_score"] = 1 + sum((df["frequency"] > q).astype(int) for q in cuts["frequency"])
    df["m_score"] = 1 + sum((df["monetary_cents"] > q).astype(int) for q in cuts["monetary_cents"])
    r_hi = df["recency_days"] < df["recency_days"].mean()
    f_hi = df["frequency"] > df["frequency"].mean()
    m_hi = df["monetary_cents"] > df["monetary_cents"].mean()
    names = {(1, 1, 1): "重要价值客户", (1, 0, 1): "重要发展客户", (0, 1, 1): "重要保持客户", (0, 0, 1): "重要挽留客户",
             (1, 1, 0): "一般价值客户", (1, 0, 0): "一般发展客户", (0, 1, 0): "一般保持客户", (0, 0, 0): "一般挽留客户"}
    df["rfm_class"] = [names[k] for k in zip(r_hi.astype(int), f_hi.astype(int), m_hi.astype(int), strict=True)]
    return df


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    from conftest import SECRET

    base = tmp_path_factory.mktemp("cdnow")
    settings = Settings(data_dir=base / "data", secret_key=SECRET, _env_file=None)
    report = import_file(settings=settings, path=CDNOW_MASTER, kind="orders", format_name="cdnow")
    assert (report.counts.read, report.counts.inserted, report.counts.rejected) == (69_659, 69_659, 0)
    assert report.counts.new_customers == 23_570
    result = classify(settings=settings, as_of=AS_OF)
    assert result.customers == 23_570
    out = base / "classes.csv"
    export_classifications(settings=settings, out=out, as_of=AS_OF)
    return pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig").set_index("customer_id")


def test_cdnow_matches_independent_computation(exported: pd.DataFrame) -> None:
    expected = independent(CDNOW_MASTER)
    assert len(exported) == len(expected) == 23_570
    joined = exported.join(expected, rsuffix="_x", how="inner")
    assert len(joined) == 23_570
    for col in ("recency_days", "frequency", "r_score", "f_score", "m_score", "rfm_class"):
        assert (joined[col] == joined[f"{col}_x"]).all(), col
    assert ((joined["monetary"] * 100).round().astype("int64") == joined["monetary_cents"]).all()
    assert exported["rfm_class"].value_counts().to_dict() == expected["rfm_class"].value_counts().to_dict()


def test_cdnow_export_columns(exported: pd.DataFrame) -> None:
    for column in ("recency_days", "frequency", "monetary", "aov", "r_score", "f_score", "m_score", "rfm_class",
                   "rfm_class_en", "rfm_group", "lifecycle_stage", "first_order_date", "last_order_date"):
        assert column in exported.columns
    row = exported.loc["00001"]
    assert (row["frequency"], row["monetary"], row["first_order_date"]) == (1, 11.77, "1997-01-01")
    # Everyone's first purchase is in Q1 1997 and the log ends 1998-06-30: nobody is new or a prospect.
    assert set(exported["lifecycle_stage"]) <= {"churned", "active", "at_risk", "won_back"}
