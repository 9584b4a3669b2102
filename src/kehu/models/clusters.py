"""Behaviour clusters: k-means on standardised log features, k chosen by silhouette, each cluster named in zh and en.

The per-buyer features (recency, frequency, money, basket size, tenure and, where most buyers have one, the median
gap between orders) are skewed over orders of magnitude, so they are ``log1p``-transformed and standardised before
k-means; k is the one in ``k_min..k_max`` with the best silhouette on a seeded sample. Each cluster is described by
the two features whose standardised centre lies furthest from the population mean, and named from them ("高频高消费" /
"frequent high spenders").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from kehu.errors import InvalidInput

#: Columns every features frame must have (all ≥ 0; days, orders, cents, cents, days).
REQUIRED_FEATURES = ("recency_days", "frequency", "monetary_cents", "aov_cents", "tenure_days")
#: Used when present and known for at least half of the buyers (NaN = one-order buyer, imputed by the median).
OPTIONAL_FEATURES = ("median_gap_days",)
#: k-means is fitted on at most this many seeded random rows; every row then goes to its nearest centre.
FIT_SAMPLE_ROWS = 200_000
#: Rows of the silhouette sample whose distances to the whole sample are held in memory at once (8 bytes each).
_SILHOUETTE_CHUNK = 512
#: ``median_gap_days`` is dropped when more than this share of buyers has none.
MAX_MISSING_GAP_SHARE = 0.5
#: A feature whose standardised centre is closer than this to the mean does not make it into a name.
NAME_MIN_Z = 0.25

#: (feature, +1 high / −1 low) → (Chinese, English adjective, English noun phrase).
_PHRASES: dict[tuple[str, int], tuple[str, str, str]] = {
    ("frequency", 1): ("高频", "frequent", "frequent buyers"),
    ("frequency", -1): ("低频", "infrequent", "infrequent buyers"),
    ("monetary_cents", 1): ("高消费", "high-spending", "high spenders"),
    ("monetary_cents", -1): ("低消费", "low-spending", "low spenders"),
    ("aov_cents", 1): ("大单", "big-basket", "big-basket buyers"),
    ("aov_cents", -1): ("小单", "small-basket", "small-basket buyers"),
    ("recency_days", 1): ("久未购买", "long-inactive", "lapsed buyers"),
    ("recency_days", -1): ("近期活跃", "recently active", "recent buyers"),
    ("tenure_days", 1): ("老客户", "long-standing", "long-standing customers"),
    ("tenure_days", -1): ("新近加入", "recently joined", "newcomers"),
    ("median_gap_days", 1): ("复购间隔长", "slow-repeating", "slow repeaters"),
    ("median_gap_days", -1): ("复购间隔短", "fast-repeating", "fast repeaters"),
}
#: Of two distinguishing features, the one earlier here gives the English noun, the other its adjective.
_NOUN_PRIORITY = ("monetary_cents", "aov_cents", "frequency", "recency_days", "tenure_days", "median_gap_days")
#: Chinese phrases that are nouns and so go last ("久未购买老客户", not "老客户久未购买").
_ZH_TRAILING = {("tenure_days", 1)}
_AVERAGE_NAME = ("普通客户", "average buyers")


@dataclass(frozen=True, eq=False)
class ClusterInfo:
    """One behaviour cluster.

    Attributes
    ----------
    id : int
        0..k−1; 0 is the cluster with the highest mean ``monetary_cents``.
    size, share : int, float
        Number of buyers and their share of all buyers (0..1).
    name_zh, name_en : str
        Readable names, unique within a :class:`ClusterResult`.
    means, medians : dict[str, float]
        Raw (un-logged) feature means and medians in the input's units; NaN-ignoring for ``median_gap_days``
        (reported whenever the input has the column, even if it was not used for clustering).
    distinguishing : list[tuple[str, float]]
        The two features whose standardised (log, z-scored) centre deviates most from the population mean (0), as
        (feature, z), largest ``|z|`` first. Positive z = higher than typical.
    """

    id: int
    size: int
    share: float
    name_zh: str
    name_en: str
    means: dict[str, float]
    medians: dict[str, float]
    distinguishing: list[tuple[str, float]]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes ``None``)."""
        return {
            "id": self.id,
            "size": self.size,
            "share": self.share,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "means": {k: _json_float(v) for k, v in self.means.items()},
            "medians": {k: _json_float(v) for k, v in self.medians.items()},
            "distinguishing": [{"feature": f, "z": _json_float(z)} for f, z in self.distinguishing],
        }


@dataclass(frozen=True, eq=False)
class ClusterResult:
    """The outcome of :func:`fit_clusters`.

    Attributes
    ----------
    labels : numpy.ndarray
        int64 cluster id per row of the input, in the input's row order.
    k : int
        Number of clusters (the k with the best silhouette).
    silhouette : float
        Silhouette of the chosen k (−1..1, on the seeded sample).
    silhouette_by_k : dict[int, float]
        Silhouette of every k tried.
    clusters : list[ClusterInfo]
        One per cluster, ordered by id.
    features : tuple[str, ...]
        The columns the clustering used (``median_gap_days`` only when present and mostly known).
    """

    labels: np.ndarray
    k: int
    silhouette: float
    silhouette_by_k: dict[int, float]
    clusters: list[ClusterInfo]
    features: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for a snapshot's summary: everything except the per-row labels."""
        return {
            "k": self.k,
            "silhouette": _json_float(self.silhouette),
            "silhouette_by_k": {str(k): _json_float(v) for k, v in self.silhouette_by_k.items()},
            "features": list(self.features),
            "clusters": [c.to_json() for c in self.clusters],
        }


def fit_clusters(
    features: pd.DataFrame,
    *,
    k_min: int = 3,
    k_max: int = 8,
    random_state: int = 0,
    silhouette_sample: int = 20_000,
) -> ClusterResult:
    """Cluster buyers by behaviour: k-means on standardised ``log1p`` features, k chosen by silhouette.

    Parameters
    ----------
    features : pandas.DataFrame
        One row per buyer (index = customer id) with numeric, finite, non-negative columns ``recency_days``,
        ``frequency`` (orders), ``monetary_cents``, ``aov_cents``, ``tenure_days`` (days since the first order) and
        optionally ``median_gap_days`` (NaN for one-order buyers). The gap is used when at most half of the rows
        lack it, missing values then taking the median gap; otherwise it is left out. Other columns are ignored.
    k_min, k_max : int
        The range of k to try (inclusive, 2 ≤ k_min ≤ k_max). k_max is lowered to the number of distinct rows − 1.
    random_state : int
        Seed for k-means and the silhouette sample; the same seed gives the same result.
    silhouette_sample : int
        The silhouette of every k is computed on the same this many seeded random rows (all rows when there are
        fewer); its cost grows with the square of this number. ``KMeans`` is fitted on at most
        :data:`FIT_SAMPLE_ROWS` seeded random rows (on 1,000,000 rows that is as good as ``MiniBatchKMeans`` on all
        of them, and faster) and every row is then labelled by its nearest centre.

    Returns
    -------
    ClusterResult
        Labels numbered 0..k−1 by descending mean ``monetary_cents`` (ties: by the cluster centre), and per-cluster
        size, share, raw means and medians, distinguishing features and names. Ties in silhouette go to the smaller k.

    Raises
    ------
    InvalidInput
        A required column is missing, non-numeric, negative, NaN or infinite; the arguments are out of range; or
        there are fewer than ``k_min + 1`` buyers with different behaviour (including all rows identical).
    """
    if k_min < 2 or k_max < k_min:
        raise InvalidInput(f"need 2 ≤ k_min ≤ k_max to form clusters, got k_min={k_min}, k_max={k_max}")
    if silhouette_sample < 2:
        raise InvalidInput(f"silhouette_sample must be at least 2, got {silhouette_sample}")
    raw, used = _prepare(features)
    n = len(raw)
    n_distinct = len(raw.drop_duplicates()) if n else 0
    if n_distinct < k_min + 1:
        total = f" (of {n} buyers)" if n != n_distinct else ""
        raise InvalidInput(
            f"need at least {k_min + 1} buyers with different behaviour to form clusters, got {n_distinct}{total}"
        )
    z = StandardScaler().fit_transform(np.log1p(raw.to_numpy(dtype=np.float64)))
    rng = np.random.default_rng(random_state)
    fit_rows = _sample_rows(rng, n, FIT_SAMPLE_ROWS)
    sil_rows = _sample_rows(rng, n, silhouette_sample)
    ks = range(k_min, min(k_max, n_distinct - 1) + 1)  # never empty: n_distinct − 1 ≥ k_min
    all_labels: dict[int, np.ndarray] = {}
    for k in ks:
        model = KMeans(n_clusters=k, n_init=3, random_state=random_state)
        model.fit(z if fit_rows is None else z[fit_rows])
        all_labels[k] = model.predict(z).astype(np.int64)
    sil_z = z if sil_rows is None else z[sil_rows]
    scores = silhouettes(sil_z, [all_labels[k] if sil_rows is None else all_labels[k][sil_rows] for k in ks])
    by_k = dict(zip(ks, scores, strict=True))
    best_k = max(ks, key=lambda kk: (by_k[kk], -kk))  # ties go to the smaller k
    labels = _renumber(all_labels[best_k], raw["monetary_cents"].to_numpy(dtype=np.float64), z)
    k = int(labels.max()) + 1  # k-means may leave a cluster empty; the renumbering closes the gap
    clusters = _describe(features, labels, z, used, k)
    return ClusterResult(
        labels=labels,
        k=k,
        silhouette=by_k[best_k],
        silhouette_by_k=by_k,
        clusters=clusters,
        features=used,
    )


def _prepare(features: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Validated float64 frame of the columns to cluster on (gap imputed), and their names."""
    if not isinstance(features, pd.DataFrame):
        raise InvalidInput(f"features must be a pandas DataFrame (one row per buyer), got {type(features).__name__}")
    for col in REQUIRED_FEATURES:
        if col not in features.columns:
            raise InvalidInput(f"required column {col!r} missing from the features; got {list(features.columns)}")
    out: dict[str, np.ndarray] = {}
    for col in (*REQUIRED_FEATURES, *OPTIONAL_FEATURES):
        if col not in features.columns:
            continue
        series = features[col]
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise InvalidInput(f"column {col!r} must be numeric, got dtype {series.dtype}")
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(values)
        if col in OPTIONAL_FEATURES:
            if not len(missing) or missing.mean() > MAX_MISSING_GAP_SHARE:
                continue
            if missing.any():
                values = np.where(missing, np.median(values[~missing]), values)
        elif missing.any():
            raise InvalidInput(
                f"column {col!r} has a missing value for customer {_plain(features.index[int(np.argmax(missing))])!r}"
            )
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidInput(
                f"column {col!r} must be finite and ≥ 0, got {values[i]} for customer {_plain(features.index[i])!r}"
            )
        out[col] = values
    return pd.DataFrame(out), tuple(out)


def _sample_rows(rng: np.random.Generator, n: int, size: int) -> np.ndarray | None:
    """Sorted seeded row numbers, or None for all rows when there are no more than ``size``."""
    return np.sort(rng.choice(n, size=size, replace=False)) if n > size else None


def silhouettes(x: np.ndarray, label_sets: list[np.ndarray]) -> list[float]:
    """Mean silhouette (Rousseeuw 1987) of several labellings of the same points, sharing one distance pass.

    The same value as ``sklearn.metrics.silhouette_score(x, labels)`` for each labelling (Euclidean distance;
    a point alone in its cluster scores 0), but the ``n × n`` distances are computed once, in chunks of
    :data:`_SILHOUETTE_CHUNK` rows, instead of once per labelling. A labelling with fewer than two clusters
    scores −1 (the worst). Memory: ``n × Σk`` floats plus one chunk; time: O(n² · (dims + Σk)).
    """
    n = len(x)
    dense = [np.unique(lab, return_inverse=True)[1].reshape(-1) for lab in label_sets]
    widths = [int(d.max()) + 1 if n else 0 for d in dense]
    offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    onehot = np.zeros((n, int(offsets[-1])))
    for d, off in zip(dense, offsets[:-1], strict=True):
        onehot[np.arange(n), off + d] = 1.0
    sq = np.einsum("ij,ij->i", x, x)
    sums = np.empty_like(onehot)  # sums[i, c] = Σ distance from point i to the points of cluster c
    for start in range(0, n, _SILHOUETTE_CHUNK):
        stop = min(start + _SILHOUETTE_CHUNK, n)
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * (x[start:stop] @ x.T)
        np.maximum(d2, 0.0, out=d2)
        d2[np.arange(stop - start), np.arange(start, stop)] = 0.0
        sums[start:stop] = np.sqrt(d2, out=d2) @ onehot
    rows = np.arange(n)
    out = []
    for d, width, off in zip(dense, widths, offsets[:-1], strict=True):
        if width < 2:
            out.append(-1.0)
            continue
        s, counts = sums[:, off : off + width], np.bincount(d, minlength=width).astype(np.float64)
        own_count = counts[d]
        a = s[rows, d] / np.maximum(own_count - 1.0, 1.0)
        mean_to = s / counts
        mean_to[rows, d] = np.inf
        b = mean_to.min(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.nan_to_num((b - a) / np.maximum(a, b))
        score[own_count == 1] = 0.0
        out.append(float(score.mean()))
    return out


def _renumber(labels: np.ndarray, monetary: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Relabel 0..k−1 by descending mean monetary, ties by the standardised centre; empty labels are dropped."""
    present = np.unique(labels)
    dense = np.searchsorted(present, labels)
    counts = np.bincount(dense).astype(np.float64)
    mean_m = np.bincount(dense, weights=monetary) / counts
    centres = np.stack([np.bincount(dense, weights=z[:, j]) / counts for j in range(z.shape[1])], axis=1)
    order = np.lexsort((*centres.T[::-1], -mean_m))
    new_id = np.empty_like(order)
    new_id[order] = np.arange(len(order))
    return new_id[dense].astype(np.int64)


def _describe(
    features: pd.DataFrame, labels: np.ndarray, z: np.ndarray, used: tuple[str, ...], k: int
) -> list[ClusterInfo]:
    shown = [c for c in (*REQUIRED_FEATURES, *OPTIONAL_FEATURES) if c in features.columns]
    raw = pd.DataFrame({c: features[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in shown})
    grouped = raw.groupby(labels)
    means, medians = grouped.mean(), grouped.median()
    centres = pd.DataFrame(z, columns=list(used)).groupby(labels).mean()
    sizes = np.bincount(labels, minlength=k)
    infos: list[ClusterInfo] = []
    for c in range(k):
        centre = centres.loc[c]
        top = sorted(used, key=lambda f: (-abs(float(centre[f])), used.index(f)))[:2]
        distinguishing = [(f, float(centre[f])) for f in top]
        name_zh, name_en = _name(distinguishing)
        infos.append(
            ClusterInfo(
                id=c,
                size=int(sizes[c]),
                share=float(sizes[c] / len(labels)),
                name_zh=name_zh,
                name_en=name_en,
                means={f: float(means.loc[c, f]) for f in shown},
                medians={f: float(medians.loc[c, f]) for f in shown},
                distinguishing=distinguishing,
            )
        )
    return _unique_names(infos)


def _name(distinguishing: list[tuple[str, float]]) -> tuple[str, str]:
    """(zh, en) name from up to two (feature, z): 高频 + 高消费 → "高频高消费" / "frequent high spenders"."""
    strong = [(f, 1 if zv > 0 else -1) for f, zv in distinguishing if abs(zv) >= NAME_MIN_Z]
    if not strong:
        return _AVERAGE_NAME
    if len(strong) == 1:
        zh, _, noun = _PHRASES[strong[0]]
        return zh, noun
    noun_key, adj_key = sorted(strong, key=lambda fd: _NOUN_PRIORITY.index(fd[0]))
    zh_first, zh_last = (noun_key, adj_key) if adj_key in _ZH_TRAILING else (adj_key, noun_key)
    return _PHRASES[zh_first][0] + _PHRASES[zh_last][0], f"{_PHRASES[adj_key][1]} {_PHRASES[noun_key][2]}"


def _unique_names(infos: list[ClusterInfo]) -> list[ClusterInfo]:
    """Append " 2", " 3", … to the second, third, … cluster carrying the same name (per language)."""
    seen_zh: dict[str, int] = {}
    seen_en: dict[str, int] = {}
    out = []
    for info in infos:
        zh, en = info.name_zh, info.name_en
        seen_zh[zh] = seen_zh.get(zh, 0) + 1
        seen_en[en] = seen_en.get(en, 0) + 1
        if seen_zh[zh] > 1:
            zh = f"{zh} {seen_zh[zh]}"
        if seen_en[en] > 1:
            en = f"{en} {seen_en[en]}"
        out.append(replace(info, name_zh=zh, name_en=en))
    return out


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (so messages show ``1005``, not ``np.int64(1005)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _json_float(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
