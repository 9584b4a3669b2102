"""Behaviour clusters: recovery of planted blobs, stable numbering, names, the silhouette, validation."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

from kehu.errors import InvalidInput
from kehu.models import clusters
from kehu.models.clusters import REQUIRED_FEATURES, ClusterInfo, fit_clusters, silhouettes

#: Planted behaviour: (recency_days, frequency, monetary_cents, aov_cents, tenure_days) at each blob's centre.
BLOBS = {
    "frequent high spenders": (30, 24, 24 * 8_000, 8_000, 700),
    "long inactive": (900, 2, 2 * 8_000, 8_000, 1_000),
    "recently joined": (15, 1, 8_000, 8_000, 20),
    "big baskets": (120, 2, 2 * 120_000, 120_000, 400),
}


def blobs(per_blob: int = 300, seed: int = 7, spread: float = 0.12) -> tuple[pd.DataFrame, np.ndarray]:
    """Buyers scattered (log-normally, ``spread`` in log units) around the BLOBS centres, shuffled; true labels."""
    rng = np.random.default_rng(seed)
    rows = [np.array(c, dtype=float) * np.exp(rng.normal(0, spread, (per_blob, 5))) for c in BLOBS.values()]
    truth = np.repeat(np.arange(len(BLOBS)), per_blob)
    order = rng.permutation(len(truth))
    frame = pd.DataFrame(np.vstack(rows)[order], columns=list(REQUIRED_FEATURES))
    frame.index = pd.Index(1_000 + np.arange(len(frame)), name="customer_id")
    return frame, truth[order]


def test_recovers_planted_blobs() -> None:
    features, truth = blobs()
    result = fit_clusters(features)
    assert result.k == 4
    assert adjusted_rand_score(truth, result.labels) >= 0.9
    assert max(result.silhouette_by_k, key=lambda k: result.silhouette_by_k[k]) == 4
    assert result.silhouette == result.silhouette_by_k[4]
    assert sorted(result.silhouette_by_k) == list(range(3, 9))
    assert [c.size for c in result.clusters] == [300, 300, 300, 300]
    assert sum(c.share for c in result.clusters) == pytest.approx(1.0)


def test_recovers_blobs_when_fitted_on_a_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """The large-input path (k-means on a seeded sample, every row to its nearest centre), made small."""
    monkeypatch.setattr(clusters, "FIT_SAMPLE_ROWS", 400)
    features, truth = blobs()
    result = fit_clusters(features, silhouette_sample=500)
    assert result.k == 4
    assert adjusted_rand_score(truth, result.labels) >= 0.9


def test_clusters_numbered_by_descending_mean_monetary() -> None:
    result = fit_clusters(blobs()[0])
    means = [c.means["monetary_cents"] for c in result.clusters]
    assert means == sorted(means, reverse=True)
    assert [c.id for c in result.clusters] == list(range(result.k))
    assert set(np.unique(result.labels)) == set(range(result.k))
    assert result.labels.dtype == np.int64


def test_same_random_state_gives_the_same_result() -> None:
    features = blobs(spread=0.6)[0]  # overlapping blobs, so k-means' seeds matter
    first, second = fit_clusters(features, random_state=3), fit_clusters(features, random_state=3)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert first.to_json() == second.to_json()


def test_row_order_follows_the_input() -> None:
    features, _ = blobs()
    result = fit_clusters(features)
    shuffled = features.iloc[::-1]
    again = fit_clusters(shuffled)
    assert adjusted_rand_score(result.labels[::-1], again.labels) == pytest.approx(1.0)


def test_names_are_unique_and_in_both_languages() -> None:
    result = fit_clusters(blobs()[0])
    names_zh = [c.name_zh for c in result.clusters]
    names_en = [c.name_en for c in result.clusters]
    assert len(set(names_zh)) == len(names_zh) and len(set(names_en)) == len(names_en)
    assert all(re.search(r"[\u4e00-\u9fff]", n) for n in names_zh)
    assert all(re.fullmatch(r"[a-z][a-z -]*[a-z0-9]", n) for n in names_en)


def test_names_come_from_the_distinguishing_features() -> None:
    features, truth = blobs()
    result = fit_clusters(features)
    by_blob = {
        name: result.clusters[int(np.bincount(result.labels[truth == i]).argmax())] for i, name in enumerate(BLOBS)
    }
    frequent = by_blob["frequent high spenders"]
    assert (frequent.name_zh, frequent.name_en) == ("高频高消费", "frequent high spenders")
    assert [f for f, _ in frequent.distinguishing] == ["frequency", "monetary_cents"]
    assert all(z > 0 for _, z in frequent.distinguishing)
    assert "久未购买" in by_blob["long inactive"].name_zh
    assert "lapsed" in by_blob["long inactive"].name_en
    assert "新近加入" in by_blob["recently joined"].name_zh
    assert "大单" in by_blob["big baskets"].name_zh


def test_duplicate_names_get_a_number() -> None:
    def info(i: int) -> ClusterInfo:
        return ClusterInfo(
            id=i,
            size=1,
            share=0.25,
            name_zh="高频高消费",
            name_en="frequent high spenders",
            means={},
            medians={},
            distinguishing=[],
        )

    named = clusters._unique_names([info(0), info(1), info(2)])
    assert [c.name_zh for c in named] == ["高频高消费", "高频高消费 2", "高频高消费 3"]
    assert [c.name_en for c in named] == [
        "frequent high spenders",
        "frequent high spenders 2",
        "frequent high spenders 3",
    ]


def test_weak_deviation_is_called_average() -> None:
    assert clusters._name([("frequency", 0.1), ("recency_days", -0.05)]) == ("普通客户", "average buyers")
    assert clusters._name([("recency_days", 2.0), ("frequency", 0.1)]) == ("久未购买", "lapsed buyers")


def test_means_and_medians_are_raw_units() -> None:
    features, truth = blobs()
    result = fit_clusters(features)
    cluster = result.clusters[0]
    members = features[result.labels == cluster.id]
    assert cluster.means["aov_cents"] == pytest.approx(members["aov_cents"].mean())
    assert cluster.medians["tenure_days"] == pytest.approx(members["tenure_days"].median())


def test_median_gap_used_when_mostly_known_and_imputed() -> None:
    features, truth = blobs()
    rng = np.random.default_rng(1)
    gap = pd.Series(rng.uniform(10, 60, len(features)), index=features.index)
    gap[features["frequency"] < 1.2] = np.nan  # one-order buyers: a quarter of the rows
    result = fit_clusters(features.assign(median_gap_days=gap))
    assert result.features == (*REQUIRED_FEATURES, "median_gap_days")
    assert adjusted_rand_score(truth, result.labels) >= 0.9
    assert all(np.isfinite(c.means["median_gap_days"]) or c.size == 0 for c in result.clusters)


def test_median_gap_dropped_when_mostly_missing() -> None:
    features, truth = blobs()
    gap = pd.Series(np.nan, index=features.index)
    gap.iloc[:100] = 30.0
    result = fit_clusters(features.assign(median_gap_days=gap))
    assert result.features == REQUIRED_FEATURES
    assert "median_gap_days" in result.clusters[0].means  # still reported
    assert adjusted_rand_score(truth, result.labels) >= 0.9


def test_to_json_is_json_ready_without_labels() -> None:
    features = blobs()[0].assign(median_gap_days=np.nan)  # all-NaN means become null
    data = fit_clusters(features).to_json()
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    assert "labels" not in data
    assert data["k"] == 4 and set(data["silhouette_by_k"]) == {str(k) for k in range(3, 9)}
    assert data["clusters"][0]["means"]["median_gap_days"] is None
    assert data["clusters"][0]["distinguishing"][0].keys() == {"feature", "z"}
    assert "高频高消费" in text


def test_k_range_is_capped_by_distinct_rows() -> None:
    features = blobs(per_blob=2)[0]  # 8 different buyers
    result = fit_clusters(features, k_min=2, k_max=20)
    assert max(result.silhouette_by_k) == 7


def test_silhouettes_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1_300, 4))
    x[10] = x[11]  # a duplicate point
    label_sets = [rng.integers(0, k, len(x)) for k in (2, 3, 7)]
    label_sets.append(np.r_[np.zeros(len(x) - 1, dtype=int), 5])  # a singleton cluster
    got = silhouettes(x, label_sets)
    assert got == pytest.approx([silhouette_score(x, labels) for labels in label_sets], abs=1e-9)
    assert silhouettes(x, [np.zeros(len(x), dtype=int)]) == [-1.0]


@pytest.mark.parametrize("n", [0, 1, 3])
def test_too_few_buyers(n: int) -> None:
    features = blobs()[0].iloc[:n]
    with pytest.raises(InvalidInput, match=f"need at least 4 buyers with different behaviour .*got {n}$"):
        fit_clusters(features)


def test_all_buyers_identical() -> None:
    features = pd.DataFrame({c: [5.0] * 50 for c in REQUIRED_FEATURES})
    with pytest.raises(InvalidInput, match=r"need at least 4 buyers with different behaviour .*got 1 \(of 50 buyers\)"):
        fit_clusters(features)


def test_missing_column_named() -> None:
    with pytest.raises(InvalidInput, match="required column 'aov_cents' missing"):
        fit_clusters(blobs()[0].drop(columns="aov_cents"))


def test_bad_values_named() -> None:
    features = blobs()[0]
    negative = features.copy()
    negative.iloc[5, 0] = -1
    with pytest.raises(
        InvalidInput, match=f"'recency_days' must be finite and ≥ 0, got -1.0 for customer {features.index[5]}"
    ):
        fit_clusters(negative)
    missing = features.copy()
    missing.iloc[3, 1] = np.nan
    with pytest.raises(InvalidInput, match=f"'frequency' has a missing value for customer {features.index[3]}"):
        fit_clusters(missing)
    with pytest.raises(InvalidInput, match="'tenure_days' must be numeric"):
        fit_clusters(features.assign(tenure_days="long"))
    with pytest.raises(InvalidInput, match="must be a pandas DataFrame"):
        fit_clusters(features.to_numpy())  # type: ignore[arg-type]


@pytest.mark.parametrize(("k_min", "k_max"), [(1, 5), (5, 4)])
def test_bad_k_range(k_min: int, k_max: int) -> None:
    with pytest.raises(InvalidInput, match="need 2 ≤ k_min ≤ k_max"):
        fit_clusters(blobs()[0], k_min=k_min, k_max=k_max)
