"""Item-to-item recommendations: hand-made baskets, the popularity fallback, a dense reference, hit rate, errors."""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pandas as pd
import pytest

from kehu.errors import InvalidInput, NotFitted
from kehu.models import recommend as rec
from kehu.models.recommend import ItemItemRecommender, hit_rate_at_k

A, B, C, D, E = 101, 102, 103, 104, 105


def baskets() -> tuple[np.ndarray, np.ndarray]:
    """A and B go together (customers 1–3); C is popular on its own (4–7, 5 also has E); 8 bought only A; 9 only D."""
    lines = [
        (1, A),
        (1, B),
        (2, A),
        (2, B),
        (2, B),
        (3, A),
        (3, B),
        (4, C),
        (5, C),
        (5, E),
        (6, C),
        (7, C),
        (8, A),
        (9, D),
    ]
    return np.array([c for c, _ in lines]), np.array([p for _, p in lines])


def test_bought_a_recommends_b() -> None:
    model = ItemItemRecommender(n=3).fit(*baskets())
    assert model.recommend(np.array([8]))[0][0] == B
    # Then the most popular it does not own: C (4 buyers, as many as A), then D (1 buyer, as E, but a lower id).
    assert model.recommend(np.array([8])) == [[B, C, D]]


def test_owned_products_never_recommended() -> None:
    customers, products = random_purchases(seed=1)
    model = ItemItemRecommender(n=8).fit(customers, products)
    owned = pd.Series(products).groupby(customers).agg(set)
    for cid, recs in zip(owned.index, model.recommend(owned.index.to_numpy()), strict=True):
        assert not owned[cid] & set(recs)
        assert len(recs) == len(set(recs)) == min(8, len(model.products_) - len(owned[cid]))


def test_customer_owning_almost_everything_gets_a_short_list() -> None:
    customers, products = baskets()
    customers = np.r_[customers, [10] * 4]
    products = np.r_[products, [A, B, C, D]]
    model = ItemItemRecommender(n=3).fit(customers, products)
    assert model.recommend(np.array([10])) == [[E]]


def test_no_co_purchase_signal_falls_back_to_segment_popularity() -> None:
    customers, products = baskets()
    segments = pd.Series({1: "vip", 2: "vip", 3: "vip", 4: "new", 5: "new", 6: "new", 7: "new", 8: "vip", 9: "vip"})
    model = ItemItemRecommender(n=3).fit(customers, products, segments)
    # 9 bought only D, which nobody else bought: no similarity at all, so the vip segment's favourites.
    assert model.recommend(np.array([9])) == [[A, B, C]]
    # Unknown customers: their segment's list, else the overall one.
    assert model.recommend(np.array([99]), segments=pd.Series({99: "new"})) == [[C, E, A]]
    assert model.recommend(np.array([99])) == [[A, C, B]]
    assert model.recommend(np.array([99]), segments=pd.Series({99: "never seen"})) == [[A, C, B]]
    # A given segment overrides the fit's; a customer missing from it keeps the fit's (vip: A, B, D, then C).
    assert model.recommend(np.array([9, 8]), segments=pd.Series({9: "new"})) == [[C, E, A], [B, D, C]]


def test_popular_is_the_baseline_without_similarity() -> None:
    customers, products = baskets()
    model = ItemItemRecommender(n=3).fit(customers, products)
    assert model.popular(np.array([8, 99])) == [[C, B, D], [A, C, B]]


def test_similarity_is_cosine_with_zero_diagonal() -> None:
    model = ItemItemRecommender().fit(*baskets())
    s = model.similarity_.toarray()
    index = {p: i for i, p in enumerate(model.products_)}
    assert np.all(np.diag(s) == 0)
    assert s[index[A], index[B]] == pytest.approx(3 / np.sqrt(4 * 3))  # 3 co-buyers, A has 4 buyers, B 3
    assert s[index[C], index[E]] == pytest.approx(1 / np.sqrt(4 * 1))
    assert s[index[A], index[C]] == 0
    assert model.popularity_.tolist() == [4, 3, 4, 1, 1]


def test_min_co_purchases_and_max_neighbours_prune_similarity() -> None:
    customers, products = random_purchases(seed=2)
    full = ItemItemRecommender(max_neighbours=None).fit(customers, products)
    strict = ItemItemRecommender(min_co_purchases=3, max_neighbours=None).fit(customers, products)
    short = ItemItemRecommender(max_neighbours=2).fit(customers, products)
    co = (full.purchases_.T @ full.purchases_).toarray()
    np.fill_diagonal(co, 0)
    assert np.array_equal(strict.similarity_.toarray() > 0, co >= 3)
    assert np.diff(short.similarity_.indptr).max() == 2
    dense = full.similarity_.toarray()
    for j in range(dense.shape[0]):  # each row keeps its two largest (ties: lower product)
        expected = np.lexsort((np.arange(dense.shape[1]), -dense[j]))[:2]
        expected = expected[dense[j, expected] > 0]
        assert set(short.similarity_[j].indices) == set(expected)


def random_purchases(seed: int, n_customers: int = 300, n_products: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lines = rng.integers(1, 7, n_customers)
    customers = np.repeat(np.arange(n_customers) * 10, lines)
    weights = 1 / np.arange(1, n_products + 1)
    products = 1_000 + rng.choice(n_products, len(customers), p=weights / weights.sum())
    return customers, products


def dense_reference(model: ItemItemRecommender, customers: np.ndarray, segment_rows: np.ndarray) -> list[list[int]]:
    """The definition, spelled out densely: similarity score first (ties: segment rank), then segment popularity."""
    x = model.purchases_.toarray()
    scores = x @ model.similarity_.toarray()
    out = []
    for cid, seg in zip(customers, segment_rows, strict=True):
        row = model._customer_index.get_loc(cid) if cid in model._customer_index else None
        owned = x[row] > 0 if row is not None else np.zeros(x.shape[1], dtype=bool)
        score = scores[row] if row is not None else np.zeros(x.shape[1])
        rank = model._rank[seg]
        by_score = [j for j in np.lexsort((rank, -score)) if score[j] > 0 and not owned[j]][: model.n]
        fill = [j for j in model._order[seg] if not owned[j] and j not in by_score]
        out.append([int(model.products_[j]) for j in (by_score + fill)[: model.n]])
    return out


@pytest.mark.parametrize("block_entries", [rec.BLOCK_ENTRIES, 50])
def test_matches_dense_reference(monkeypatch: pytest.MonkeyPatch, block_entries: int) -> None:
    """Blocked sparse X·S with partitioned top-k gives exactly the dense definition, also across many blocks."""
    monkeypatch.setattr(rec, "BLOCK_ENTRIES", block_entries)
    customers, products = random_purchases(seed=3)
    rng = np.random.default_rng(3)
    ids = np.unique(customers)
    segments = pd.Series(rng.choice(["a", "b", "c"], len(ids)), index=ids)
    model = ItemItemRecommender(n=7, max_neighbours=5).fit(customers, products, segments)
    query = np.r_[ids, [-1, -2]]  # and two unknown customers
    seg_rows = np.r_[segments.map({"a": 0, "b": 1, "c": 2}).to_numpy(), [3, 3]]
    assert model.recommend(query) == dense_reference(model, query, seg_rows)


def test_top_per_row_ties_and_short_rows() -> None:
    indptr = np.array([0, 5, 5, 7, 10])
    indices = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    data = np.array([1.0, 3.0, 3.0, 2.0, 3.0, 5.0, 4.0, 1.0, 1.0, 1.0])
    entries, rows, pos = rec._top_per_row(indptr, indices, data, 2, lambda r, c: -c)  # ties: higher column
    assert rows.tolist() == [0, 0, 2, 2, 3, 3]
    assert indices[entries].tolist() == [4, 2, 0, 1, 4, 3]
    assert pos.tolist() == [0, 1, 0, 1, 0, 1]


def planted_purchases(seed: int = 0, n_customers: int = 3_000, n_pairs: int = 50):  # type: ignore[no-untyped-def]
    """Products come in pairs (2j, 2j+1) bought together; pairs are Zipf-popular. Before 2024-07-01 each customer
    buys one product of a pair (and some noise); afterwards, often its partner."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, n_pairs + 1)
    pair = rng.choice(n_pairs, n_customers, p=weights / weights.sum())
    first = 2 * pair + rng.integers(0, 2, n_customers)
    partner = first ^ 1
    cust = np.arange(n_customers)
    noise = rng.choice(2 * n_pairs, n_customers)
    rows = [(cust, first, "2024-03-01"), (cust, noise, "2024-04-01")]
    # A third of the customers already bought the partner too: that is where co-purchases are learned.
    early = rng.random(n_customers) < 1 / 3
    rows.append((cust[early], partner[early], "2024-05-01"))
    later = ~early & (rng.random(n_customers) < 0.7)
    rows.append((cust[later], partner[later], "2024-08-01"))
    customers = np.concatenate([r[0] for r in rows])
    products = np.concatenate([r[1] for r in rows])
    ordered_at = np.concatenate([np.full(len(r[0]), np.datetime64(r[2])) for r in rows])
    return customers, products, ordered_at


def test_hit_rate_beats_popularity_on_planted_co_purchases() -> None:
    customers, products, ordered_at = planted_purchases()
    result = hit_rate_at_k(customers, products, ordered_at, split=date(2024, 7, 1), k=5)
    assert set(result) == {"model", "popularity", "customers", "k"}
    assert result["k"] == 5
    assert result["customers"] > 1_000
    assert result["model"] > 0.9
    assert result["model"] > result["popularity"] + 0.3


def test_hit_rate_counts_only_new_products() -> None:
    # Before: 1 and 3 buy A and B, 2 buys A, 4–6 buy C. After: 1 buys B again (not new: not evaluated), 2 buys B:
    # a hit for the model (A → B); the popularity list for 2 is C (as popular as A, owned, and lower than B).
    customers = np.array([1, 1, 2, 3, 3, 4, 5, 6, 1, 2])
    products = np.array([A, B, A, A, B, C, C, C, B, B])
    ordered_at = pd.to_datetime(["2024-01-01"] * 8 + ["2024-02-01"] * 2).to_numpy()
    result = hit_rate_at_k(customers, products, ordered_at, split=np.datetime64("2024-01-15"), k=1)
    assert result == {"model": 1.0, "popularity": 0.0, "customers": 1, "k": 1}


def test_hit_rate_with_timezone_aware_times_and_segments() -> None:
    customers, products, ordered_at = planted_purchases(n_customers=500)
    stamps = pd.Series(pd.to_datetime(ordered_at)).dt.tz_localize("Asia/Shanghai")
    segments = pd.Series(customers % 3, index=customers).groupby(level=0).first()
    result = hit_rate_at_k(customers, products, stamps, split=pd.Timestamp("2024-07-01"), segments=segments)
    assert result["model"] >= result["popularity"]


def test_hit_rate_errors() -> None:
    customers, products, ordered_at = planted_purchases(n_customers=100)
    with pytest.raises(InvalidInput, match="no purchases before the split 2020-01-01"):
        hit_rate_at_k(customers, products, ordered_at, split=date(2020, 1, 1))
    with pytest.raises(InvalidInput, match="no customer bought before the split 2030-01-01 and something new"):
        hit_rate_at_k(customers, products, ordered_at, split=date(2030, 1, 1))
    with pytest.raises(InvalidInput, match="ordered_at has 3 entries"):
        hit_rate_at_k(customers, products, ordered_at[:3], split=date(2024, 7, 1))
    with pytest.raises(InvalidInput, match="ordered_at is missing for order line 1"):
        hit_rate_at_k(
            customers[:2], products[:2], np.array(["2024-01-01", "NaT"], dtype="datetime64[D]"), split=date(2024, 7, 1)
        )


def test_not_fitted() -> None:
    model = ItemItemRecommender()
    with pytest.raises(NotFitted, match="ItemItemRecommender is not fitted yet; call fit"):
        model.recommend(np.array([1]))
    with pytest.raises(NotFitted, match="not fitted yet"):
        model.popular(np.array([1]))


def test_fit_returns_self_and_keeps_hyper_parameters() -> None:
    model = ItemItemRecommender(n=4, min_co_purchases=2, max_neighbours=None)
    assert model.fit(*baskets()) is model
    assert model.get_params() == {"n": 4, "min_co_purchases": 2, "max_neighbours": None}
    assert model.customers_.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert model.purchases_[0].toarray().tolist() == [[1.0, 1.0, 0.0, 0.0, 0.0]]  # repeats count once


def test_fit_validation() -> None:
    customers, products = baskets()
    with pytest.raises(InvalidInput, match="customer_ids has 14 entries, product_ids 13"):
        ItemItemRecommender().fit(customers, products[:-1])
    with pytest.raises(InvalidInput, match="no purchases to learn from"):
        ItemItemRecommender().fit(customers[:0], products[:0])
    with pytest.raises(InvalidInput, match="product_ids is missing at order line 2"):
        ItemItemRecommender().fit(customers, np.r_[products[:2], np.nan, products[3:]])
    with pytest.raises(InvalidInput, match="segments lists customer 1 more than once"):
        ItemItemRecommender().fit(customers, products, pd.Series(["a", "b"], index=[1, 1]))
    with pytest.raises(InvalidInput, match="segments must be a pandas Series"):
        ItemItemRecommender().fit(customers, products, {1: "a"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="n must be a positive integer, got 0"):
        ItemItemRecommender(n=0).fit(customers, products)
    with pytest.raises(InvalidInput, match="min_co_purchases must be a positive integer"):
        ItemItemRecommender(min_co_purchases=0).fit(customers, products)
    with pytest.raises(InvalidInput, match="max_neighbours must be a positive integer or None"):
        ItemItemRecommender(max_neighbours=0).fit(customers, products)


@pytest.mark.slow
def test_smoke_200k_customers_500_products() -> None:
    """Vectorised end to end: 200,000 customers × 500 products (about 670,000 lines) fit and recommend."""
    rng = np.random.default_rng(0)
    n_customers, n_products = 200_000, 500
    customers = np.repeat(np.arange(n_customers), rng.geometric(0.3, n_customers))
    weights = 1 / np.arange(1, n_products + 1) ** 0.8
    base = rng.choice(n_products, len(customers), p=weights / weights.sum())
    products = np.where(rng.random(len(customers)) < 0.3, base ^ 1, base)
    segments = pd.Series(rng.integers(0, 11, n_customers), index=np.arange(n_customers))
    started = time.perf_counter()
    model = ItemItemRecommender().fit(customers, products, segments)
    lists = model.recommend(np.arange(n_customers))
    elapsed = time.perf_counter() - started
    assert len(lists) == n_customers and all(len(r) == 10 for r in lists[:1_000])
    print(f"200k × 500: fit + recommend in {elapsed:.1f} s")
