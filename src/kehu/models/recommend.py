"""Product recommendations: item-to-item co-purchase similarity, filled up with what is popular in the segment.

Purchases become a binary customer × product matrix X (sparse). Two products are similar when the same customers
buy both: cosine similarity S = D^-½ XᵀX D^-½ with the diagonal zeroed (D = distinct buyers per product), kept
sparse and cut to each product's strongest neighbours (Sarwar et al. 2001, "Item-based collaborative filtering
recommendation algorithms"; Linden, Smith & York 2003, "Amazon.com recommendations: item-to-item collaborative
filtering"). A customer's score for a product is the sum of its similarities to what they bought (X·S); the best
products they do not own come first, the rest of the list is filled with the products most bought in their
segment (then overall). :func:`hit_rate_at_k` measures it on a time split against that popularity list alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator

from kehu.errors import InvalidInput, NotFitted

#: Tie-break key of CSR entries given their (rows, columns); lower first.
TieKey = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: Entries (customer, product) of X·S handled at once while recommending: bounds the memory of one block
#: (about 40 bytes an entry, so ~200 MB), whatever the number of customers.
BLOCK_ENTRIES = 4_000_000
#: Segments × products cells of the per-segment popularity tables; segments are meant to be groups (RFM groups).
MAX_SEGMENT_CELLS = 50_000_000


class ItemItemRecommender(BaseEstimator):  # type: ignore[misc]
    """Item-to-item co-purchase recommender with a segment-popularity fallback.

    Parameters
    ----------
    n : int
        Products recommended per customer (fewer only when the customer owns nearly every product).
    min_co_purchases : int
        Two products count as similar only when at least this many distinct customers bought both.
    max_neighbours : int or None
        Keep only each product's this many most similar products (ties: lower product id); None keeps all. Bounds
        the size of S and the cost of X·S.

    Attributes
    ----------
    customers_ : numpy.ndarray
        Known customer ids (sorted); row i of ``purchases_`` is ``customers_[i]``.
    products_ : numpy.ndarray
        Known product ids (sorted); column j is ``products_[j]``.
    purchases_ : scipy.sparse.csr_matrix
        Binary customers × products matrix (1 = bought at least once).
    similarity_ : scipy.sparse.csr_matrix
        Products × products cosine similarity (0..1), diagonal zero; row j holds product j's kept neighbours.
    popularity_ : numpy.ndarray
        Distinct buyers per product (int64).
    segments_ : pandas.Index
        The segment codes seen in ``fit`` (sorted).
    segment_popularity_ : numpy.ndarray
        Distinct buyers per (segment, product), shape ``(len(segments_), len(products_))``.
    customer_segment_ : numpy.ndarray
        Index into ``segments_`` per known customer, −1 when none was given.
    """

    def __init__(self, *, n: int = 10, min_co_purchases: int = 1, max_neighbours: int | None = 100) -> None:
        self.n = n
        self.min_co_purchases = min_co_purchases
        self.max_neighbours = max_neighbours

    # ------------------------------------------------------------------ fit
    def fit(
        self, customer_ids: np.ndarray, product_ids: np.ndarray, segments: pd.Series | None = None
    ) -> ItemItemRecommender:
        """Learn co-purchase similarities and popularity from purchases.

        Parameters
        ----------
        customer_ids, product_ids : numpy.ndarray
            One entry per order line (repeats are fine: only whether a customer bought a product counts). Ids are
            integers (strings work too); no missing values.
        segments : pandas.Series, optional
            Customer id → segment code (e.g. the RFM group). Customers not in it, or with a missing code, fall back
            to overall popularity. Meant for a few to a few hundred groups.

        Returns
        -------
        ItemItemRecommender
            ``self``, fitted.

        Raises
        ------
        InvalidInput
            Bad hyper-parameters, arrays of different lengths, no purchases, missing ids, a ``segments`` index with
            repeated customers, or too many segments.
        """
        self._check_params()
        cust, prod = _id_arrays(customer_ids, product_ids)
        c_codes, customers = pd.factorize(cust, sort=True)
        p_codes, products = pd.factorize(prod, sort=True)
        n_c, n_p = len(customers), len(products)
        keys = np.sort(c_codes.astype(np.int64) * n_p + p_codes)  # by (customer, product): CSR order
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
        rows, cols = keys // n_p, (keys % n_p).astype(np.int32)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_c))])
        x = sparse.csr_matrix((np.ones(len(keys)), cols, indptr), shape=(n_c, n_p))

        self.customers_ = np.asarray(customers)
        self.products_ = np.asarray(products)
        self._customer_index = pd.Index(self.customers_)
        self._product_index = pd.Index(self.products_)
        self.purchases_ = x
        self.popularity_ = np.bincount(cols, minlength=n_p).astype(np.int64)
        self.similarity_ = _cosine_neighbours(x, self.popularity_, self.min_co_purchases, self.max_neighbours)
        # Per customer, an upper bound on the entries of their row of X·S (sizes the blocks of `_top`).
        self._score_bound = np.minimum(x @ np.diff(self.similarity_.indptr), n_p).astype(np.int64)

        seg_values = _segment_values(segments, self.customers_)
        codes, uniques = pd.factorize(seg_values, sort=True)
        if len(uniques) * n_p > MAX_SEGMENT_CELLS:
            raise InvalidInput(
                f"segments should be groups (such as the RFM group), got {len(uniques)} distinct codes "
                f"for {n_p} products"
            )
        self.segments_ = pd.Index(uniques).infer_objects()
        self.customer_segment_ = codes.astype(np.int64)
        n_s = len(uniques)
        has = self.customer_segment_[rows] >= 0
        seg_counts = np.bincount(self.customer_segment_[rows][has] * n_p + cols[has], minlength=n_s * n_p)
        self.segment_popularity_ = seg_counts.reshape(n_s, n_p).astype(np.int64)
        # Popularity order per segment (row n_s: overall): segment buyers, then all buyers, then product id.
        order = np.empty((n_s + 1, n_p), dtype=np.int64)
        tie = np.arange(n_p)
        for s in range(n_s):
            order[s] = np.lexsort((tie, -self.popularity_, -self.segment_popularity_[s]))
        order[n_s] = np.lexsort((tie, -self.popularity_))
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(tie, order.shape), axis=1)
        self._order, self._rank = order, rank
        return self

    # ------------------------------------------------------------ recommend
    def recommend(self, customer_ids: np.ndarray, segments: pd.Series | None = None) -> list[list[int]]:
        """Up to ``n`` product ids per customer, best first, none of which the customer bought.

        First the products with a positive summed similarity to the customer's purchases (X·S; ties: the more
        popular in the segment), then the most popular products of the customer's segment they do not own (then
        overall popularity). Customers unknown to ``fit`` get their segment's (or the overall) popular list.

        Parameters
        ----------
        customer_ids : numpy.ndarray
            Customers to recommend for (any order, repeats allowed).
        segments : pandas.Series, optional
            Customer id → segment code, overriding the one given to ``fit``; customers missing here keep the fit's
            code; a code not seen in ``fit`` means overall popularity.

        Returns
        -------
        list[list[int]]
            One list per entry of ``customer_ids``, in the same order. Shorter than ``n`` only when the customer
            owns all but fewer than ``n`` of the known products.

        Notes
        -----
        Computed in blocks of customers bounded by :data:`BLOCK_ENTRIES` similarity entries, so memory stays flat
        and time grows linearly with the customers.
        """
        return self._as_ids(self._top_indices(customer_ids, segments, use_similarity=True))

    def popular(self, customer_ids: np.ndarray, segments: pd.Series | None = None) -> list[list[int]]:
        """The popularity baseline: the ``n`` most popular products of each customer's segment they do not own.

        Same arguments and return value as :meth:`recommend`, without the co-purchase part.
        """
        return self._as_ids(self._top_indices(customer_ids, segments, use_similarity=False))

    # ------------------------------------------------------------- internals
    def _check_params(self) -> None:
        if not (isinstance(self.n, int | np.integer) and self.n >= 1):
            raise InvalidInput(f"n must be a positive integer, got {self.n!r}")
        if not (isinstance(self.min_co_purchases, int | np.integer) and self.min_co_purchases >= 1):
            raise InvalidInput(f"min_co_purchases must be a positive integer, got {self.min_co_purchases!r}")
        if self.max_neighbours is not None and not (
            isinstance(self.max_neighbours, int | np.integer) and self.max_neighbours >= 1
        ):
            raise InvalidInput(f"max_neighbours must be a positive integer or None, got {self.max_neighbours!r}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "similarity_"):
            raise NotFitted(f"this {type(self).__name__} is not fitted yet; call fit(customer_ids, product_ids) first")

    def _rows_and_segments(self, customer_ids: np.ndarray, segments: pd.Series | None) -> tuple[np.ndarray, np.ndarray]:
        """Row in ``purchases_`` (−1 unknown) and row in the popularity tables (segment, or the overall row)."""
        ids = np.asarray(customer_ids).reshape(-1)
        rows = self._customer_index.get_indexer(ids).astype(np.int64)
        seg = np.where(rows >= 0, self.customer_segment_[np.maximum(rows, 0)], -1)
        if segments is not None:
            given = _segment_values(segments, ids)
            present = ~pd.isna(given)
            seg = np.where(present, self.segments_.get_indexer(given), seg)
        return rows, np.where(seg >= 0, seg, len(self.segments_))

    def _top_indices(self, customer_ids: np.ndarray, segments: pd.Series | None, *, use_similarity: bool) -> np.ndarray:
        self._check_fitted()
        rows, seg = self._rows_and_segments(customer_ids, segments)
        return self._top(rows, seg, use_similarity=use_similarity)

    def _top(self, rows: np.ndarray, seg: np.ndarray, *, use_similarity: bool) -> np.ndarray:
        """Product indices (m × n, −1 padded) for purchase rows ``rows`` (−1 = none) and popularity rows ``seg``."""
        safe = np.maximum(rows, 0)
        owned = np.where(rows >= 0, np.diff(self.purchases_.indptr)[safe], 0)
        cost = self.n + owned + (np.where(rows >= 0, self._score_bound[safe], 0) if use_similarity else 0)
        bounds = np.searchsorted(np.cumsum(cost), np.arange(BLOCK_ENTRIES, int(np.sum(cost)), BLOCK_ENTRIES))
        out = np.full((len(rows), self.n), -1, dtype=np.int64)
        for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(rows)], strict=True):
            if stop > start:
                out[start:stop] = self._top_block(rows[start:stop], seg[start:stop], use_similarity)
        return out

    def _top_block(self, rows: np.ndarray, seg: np.ndarray, use_similarity: bool) -> np.ndarray:
        n_p, k, b = len(self.products_), self.n, len(rows)
        known = rows >= 0
        xb = sparse.diags(known.astype(np.float64)) @ self.purchases_[np.maximum(rows, 0)]
        xb.eliminate_zeros()
        out = np.full((b, k), -1, dtype=np.int64)
        owned_keys = np.repeat(np.arange(b, dtype=np.int64), np.diff(xb.indptr)) * n_p + xb.indices
        taken = np.zeros(b, dtype=np.int64)
        sim_keys = np.zeros(0, dtype=np.int64)
        if use_similarity:
            scores = sparse.csr_matrix(xb @ self.similarity_)
            scores = sparse.csr_matrix(scores - scores.multiply(xb))  # owned products drop out
            scores.eliminate_zeros()
            entries, r, pos = _top_per_row(
                scores.indptr, scores.indices, scores.data, k, lambda rows, cols: self._rank[seg[rows], cols]
            )
            items = scores.indices[entries].astype(np.int64)
            out[r, pos] = items
            taken = np.minimum(np.diff(scores.indptr), k)
            sim_keys = r * n_p + items
        need = k - taken
        length = np.where(need > 0, np.minimum(need + np.diff(xb.indptr) + taken, n_p), 0)
        cr = np.repeat(np.arange(b, dtype=np.int64), length)
        cpos = np.arange(len(cr)) - np.repeat(np.cumsum(length) - length, length)
        citems = self._order[seg[cr], cpos]
        free = ~_member(cr * n_p + citems, np.concatenate([owned_keys, sim_keys]))
        cr, citems = cr[free], citems[free]
        first = np.searchsorted(cr, np.arange(b))
        rank = np.arange(len(cr)) - first[cr]
        keep = rank < need[cr]
        cr, citems, rank = cr[keep], citems[keep], rank[keep]
        out[cr, taken[cr] + rank] = citems
        return out

    def _as_ids(self, top: np.ndarray) -> list[list[int]]:
        valid = top >= 0
        lists: list[list[int]] = self.products_[np.maximum(top, 0)].tolist()
        for i in np.flatnonzero(~valid.all(axis=1)):
            lists[i] = lists[i][: int(valid[i].sum())]
        return lists


def hit_rate_at_k(
    customer_ids: np.ndarray,
    product_ids: np.ndarray,
    ordered_at: Any,
    *,
    split: datetime | date | np.datetime64,
    k: int = 10,
    segments: pd.Series | None = None,
    min_co_purchases: int = 1,
    max_neighbours: int | None = 100,
) -> dict[str, Any]:
    """Hit rate at k on a time split, for the recommender and for the segment-popularity baseline.

    Trains on purchases strictly before ``split``. Evaluated are the customers who bought before the split and
    bought at least one product on or after it that they had not bought before (products never seen before the
    split count as new, but no list can contain them). A customer is a hit when any of their top-k products is
    among those new products.

    Parameters
    ----------
    customer_ids, product_ids : numpy.ndarray
        One entry per order line, as for :meth:`ItemItemRecommender.fit`.
    ordered_at : array-like of datetime64, datetime or date
        When each line was ordered (same length). Timezone-aware stamps are compared with ``split`` in their
        timezone (a naive ``split`` is taken to be in it).
    split : datetime, date or numpy.datetime64
        The first moment of the test period.
    k : int
        List length.
    segments : pandas.Series, optional
        Customer id → segment code, for the segment popularity (model fallback and baseline alike).
    min_co_purchases, max_neighbours : int, int or None
        Passed to :class:`ItemItemRecommender`.

    Returns
    -------
    dict
        ``{"model": hit rate, "popularity": hit rate of the baseline, "customers": customers evaluated, "k": k}``;
        rates are shares in 0..1.

    Raises
    ------
    InvalidInput
        Arrays of different lengths, missing or unreadable times, nothing before the split, or no customer to
        evaluate.
    """
    cust, prod = _id_arrays(customer_ids, product_ids)
    try:
        stamps = pd.DatetimeIndex(
            pd.to_datetime(np.asarray(ordered_at) if not isinstance(ordered_at, pd.Series) else ordered_at)
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"ordered_at must hold dates or times: {exc}") from exc
    if len(stamps) != len(cust):
        raise InvalidInput(f"ordered_at has {len(stamps)} entries, customer_ids {len(cust)}; give one per order line")
    if stamps.isna().any():
        raise InvalidInput(f"ordered_at is missing for order line {int(np.argmax(stamps.isna()))}")
    cut = pd.Timestamp(split)
    if stamps.tz is not None and cut.tz is None:
        cut = cut.tz_localize(stamps.tz)
    before = np.asarray(stamps < cut)
    if not before.any():
        raise InvalidInput(f"no purchases before the split {split}; choose a later split")
    model = ItemItemRecommender(n=k, min_co_purchases=min_co_purchases, max_neighbours=max_neighbours)
    model.fit(cust[before], prod[before], segments)

    n_p = len(model.products_)
    rows = model._customer_index.get_indexer(cust[~before]).astype(np.int64)
    items = model._product_index.get_indexer(prod[~before]).astype(np.int64)
    rows, items = rows[rows >= 0], items[rows >= 0]
    x = model.purchases_
    owned_keys = np.repeat(np.arange(x.shape[0], dtype=np.int64), np.diff(x.indptr)) * n_p + x.indices
    is_new = (items < 0) | ~np.isin(rows * n_p + items, owned_keys)
    evaluated = np.unique(rows[is_new])
    if len(evaluated) == 0:
        raise InvalidInput(
            f"no customer bought before the split {split} and something new after it; choose another split"
        )
    new_keys = rows[is_new & (items >= 0)] * n_p + items[is_new & (items >= 0)]
    seg = model.customer_segment_[evaluated]
    seg = np.where(seg >= 0, seg, len(model.segments_))
    rates = {}
    for name, use_similarity in (("model", True), ("popularity", False)):
        top = model._top(evaluated, seg, use_similarity=use_similarity)
        hits = (np.isin(evaluated[:, None] * n_p + top, new_keys) & (top >= 0)).any(axis=1)
        rates[name] = float(hits.mean())
    return {"model": rates["model"], "popularity": rates["popularity"], "customers": int(len(evaluated)), "k": k}


def _member(keys: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``np.isin(keys, pool)`` for int64 keys by binary search in the sorted pool (faster than hashing here)."""
    pool = np.sort(pool)
    if len(pool) == 0:
        return np.zeros(keys.shape, dtype=bool)
    at = np.minimum(np.searchsorted(pool, keys), len(pool) - 1)
    return np.asarray(pool[at] == keys)


def _id_arrays(customer_ids: np.ndarray, product_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cust, prod = np.asarray(customer_ids).reshape(-1), np.asarray(product_ids).reshape(-1)
    if len(cust) != len(prod):
        raise InvalidInput(f"customer_ids has {len(cust)} entries, product_ids {len(prod)}; give one per order line")
    if len(cust) == 0:
        raise InvalidInput("no purchases to learn from; give at least one (customer, product) order line")
    for name, arr in (("customer_ids", cust), ("product_ids", prod)):
        missing = pd.isna(arr)
        if missing.any():
            raise InvalidInput(f"{name} is missing at order line {int(np.argmax(missing))}")
    return cust, prod


def _segment_values(segments: pd.Series | None, ids: np.ndarray) -> np.ndarray:
    """Segment code per id (NaN/None where unknown)."""
    if segments is None:
        return np.full(len(ids), np.nan, dtype=object)
    if not isinstance(segments, pd.Series):
        raise InvalidInput(f"segments must be a pandas Series (customer id → segment), got {type(segments).__name__}")
    if not segments.index.is_unique:
        dup = segments.index[segments.index.duplicated()][0]
        dup = dup.item() if isinstance(dup, np.generic) else dup
        raise InvalidInput(f"segments lists customer {dup!r} more than once; give one segment per customer")
    return np.asarray(segments.reindex(ids).to_numpy(dtype=object))


def _top_per_row(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, k: int, tie: TieKey
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each row of a CSR matrix (ties: lower ``tie(rows, columns)``).

    Returns (entry numbers into ``data``, row, position in the row's list), ordered by row then position. Rows
    longer than k are padded, by length class (powers of two, so at most twice the entries), into 2-D arrays
    whose k-th largest value per row ``np.partition`` finds in linear time; only entries at or above it reach the
    exact sort by (row, −value, tie).
    """
    lens = np.diff(indptr)
    r = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
    threshold = np.full(len(lens), -np.inf)
    long_rows = np.flatnonzero(lens > k)
    width_class = np.ceil(np.log2(lens[long_rows])).astype(np.int64)
    for cls in np.unique(width_class):
        rows = long_rows[width_class == cls]
        cols = np.arange(2**cls)
        valid = cols[None, :] < lens[rows, None]
        at = np.where(valid, indptr[rows, None] + cols[None, :], 0)
        values = np.where(valid, -data[at], np.inf)
        threshold[rows] = -np.partition(values, k - 1, axis=1)[:, k - 1]
    entries = np.flatnonzero(data >= threshold[r])
    r = r[entries]
    order = np.lexsort((tie(r, indices[entries].astype(np.int64)), -data[entries], r))
    entries, r = entries[order], r[order]
    pos = np.arange(len(r)) - np.searchsorted(r, r)
    first_k = pos < k
    return entries[first_k], r[first_k], pos[first_k]


def _cosine_neighbours(
    x: sparse.csr_matrix, buyers: np.ndarray, min_co: int, max_neighbours: int | None
) -> sparse.csr_matrix:
    """Cosine similarity of the columns of binary ``x``: co-buyers / √(buyers_i · buyers_j), diagonal and pairs
    with fewer than ``min_co`` co-buyers removed, each row cut to its ``max_neighbours`` largest (ties: lower
    column)."""
    n_p = x.shape[1]
    co = sparse.csr_matrix(x.T @ x)
    co.sort_indices()
    r = np.repeat(np.arange(n_p, dtype=np.int64), np.diff(co.indptr))
    keep = (r != co.indices) & (co.data >= min_co)
    r, c = r[keep], co.indices[keep].astype(np.int64)
    sim = co.data[keep] / np.sqrt(buyers[r].astype(np.float64) * buyers[c])
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n_p))])
    if max_neighbours is not None:
        entries, r, _ = _top_per_row(indptr, c, sim, max_neighbours, lambda _rows, cols: cols)
        c, sim = c[entries], sim[entries]
    out = sparse.csr_matrix((sim, (r, c)), shape=(n_p, n_p))
    out.sort_indices()
    return out
