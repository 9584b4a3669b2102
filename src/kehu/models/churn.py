"""Supervised churn risk: per-customer features at a date, "no purchase in the next h days" labels, and a
gradient-boosting model fit on a time split.

DESIGN.md's second churn view (the first is 1 − P(alive) from BG/NBD): features at D − h, label "no purchase in
(D − h, D]", with the AUC measured on a split that the model never saw. With D = ``as_of`` and h = ``horizon_days``:

* **evaluate** — train on features at D − 2h with labels in (D − 2h, D − h], test on features at D − h with labels
  in (D − h, D]: ``auc_`` (and ``baseline_auc_`` for a given baseline score on the same test rows);
* **score** — refit on the D − h split, so the model that scores customers at D learnt from the latest full
  horizon: ``model_``, used by :meth:`ChurnModel.predict_risk` on ``churn_features(..., as_of=D)``.

Features are Ibis expressions (:mod:`kehu.analytics.features` plus windowed aggregates) run on an in-process DuckDB;
only orders on or before the feature date are read, so no label information leaks into the features. One caveat
of the data model: a refund is known only as the order's current state, so an order refunded after the feature
date already counts as refunded (or, when fully refunded, as no purchase) at that date.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from kehu.errors import InvalidInput, KehuError, NotFitted

# kehu.analytics imports this module (the prediction columns of a snapshot), so its modules are imported inside the
# functions that use them: importing kehu.models.churn first or kehu.analytics first both work.

#: Length of the recent and previous windows of the windowed features, in days.
WINDOW_DAYS = 90

#: The columns of :func:`churn_feature_table` (the Ibis part of the features).
TABLE_COLUMNS: tuple[str, ...] = (
    "recency_days", "frequency", "monetary_cents", "aov_cents", "tenure_days",
    "median_gap_days", "usual_gap_days", "gap_ratio",
    "orders_90d", "spend_90d_cents", "orders_prev_90d", "spend_prev_90d_cents",
    "refund_share", "paid_orders", "refunded_orders",
)
#: BG/NBD's view of each customer at the feature date (:func:`bgnbd_columns`): fed to the gradient boosting, so
#: that it starts from what the probability model knows and learns what it misses.
BGNBD_COLUMNS: tuple[str, ...] = ("p_alive", "p_no_purchase")
#: The columns :func:`churn_features` returns, in order (index: ``customer_id``).
FEATURE_COLUMNS: tuple[str, ...] = TABLE_COLUMNS + BGNBD_COLUMNS

#: The features the model learns from (``paid_orders`` and ``refunded_orders`` are kept for the reasons only:
#: ``refund_share`` carries their signal).
MODEL_FEATURES: tuple[str, ...] = (
    "recency_days", "frequency", "monetary_cents", "aov_cents", "tenure_days",
    "median_gap_days", "usual_gap_days", "gap_ratio",
    "orders_90d", "spend_90d_cents", "orders_prev_90d", "spend_prev_90d_cents",
    "refund_share", *BGNBD_COLUMNS,
)

_FLOAT_COLUMNS = ("median_gap_days", "usual_gap_days", "gap_ratio", "refund_share", *BGNBD_COLUMNS)

#: Hyper-parameters of the gradient boosting (besides ``random_state``). Shallower, slower trees than
#: scikit-learn's defaults: on CDNOW and on the synthetic test data they beat the recency-rank baseline by about
#: 0.01 AUC where the defaults only tie with it. Early stopping switches itself on above 10,000 rows.
CLASSIFIER_PARAMS: dict[str, Any] = {
    "learning_rate": 0.03, "max_iter": 200, "max_leaf_nodes": 8, "min_samples_leaf": 40,
}
#: Below this many rows the classifier runs on one thread: OpenMP's start-up and spinning cost more than they save
#: on small data, and far more on a busy machine.
THREADED_ROWS = 50_000

#: Rows of the test split used for permutation importances (seeded sample), and repeats per feature.
IMPORTANCE_ROWS = 5_000
IMPORTANCE_REPEATS = 3

Baseline = Callable[[pd.DataFrame, date], np.ndarray]


# ------------------------------------------------------------------------------------------------ inputs


def _backend() -> Any:
    """A fresh in-process DuckDB backend (:func:`kehu.analytics.engines.duckdb_backend`)."""
    from kehu.analytics.engines import duckdb_backend

    return duckdb_backend()


def _purchases(orders: ir.Table, *, as_of: date) -> ir.Table:
    from kehu.analytics.features import purchases

    return purchases(orders, as_of=as_of)


def _orders_expr(orders: pa.Table) -> ir.Table:
    """``orders`` as an Ibis memtable with the column types the feature expressions expect."""
    missing = {"customer_id", "ordered_at", "amount_cents", "refunded_cents", "is_paid"} - set(orders.column_names)
    if missing:
        raise InvalidInput(f"orders table is missing column(s) {', '.join(sorted(missing))}; it needs customer_id, "
                           "ordered_at, amount_cents, refunded_cents, is_paid (as kehu.analytics.classify.load_inputs "
                           "returns them)")
    o = ibis.memtable(orders)
    return o.mutate(ordered_at=o.ordered_at.cast("timestamp"), is_paid=o.is_paid.cast("boolean"),
                    customer_id=o.customer_id.cast("int64"), amount_cents=o.amount_cents.cast("int64"),
                    refunded_cents=o.refunded_cents.cast("int64"))


def _customers_expr(customers: pa.Table) -> ir.Table:
    if "id" not in customers.column_names:
        raise InvalidInput("customers table is missing column id (the customer ids)")
    return ibis.memtable(customers.select(["id"])).select(id=ibis._.id.cast("int64"))


# ------------------------------------------------------------------------------------------------ features


def churn_feature_table(orders: ir.Table, customers: ir.Table, *, as_of: date) -> ir.Table:
    """The Ibis expression behind :func:`churn_features`: one row per customer with a purchase on or before
    ``as_of``, columns ``customer_id`` and :data:`TABLE_COLUMNS` (see :func:`churn_features` for their meaning).

    ``orders`` needs the columns of :func:`kehu.analytics.features.purchases`; ``customers`` needs ``id``.
    """
    from kehu.analytics.features import customer_features

    end = ibis.timestamp(as_of + timedelta(days=1))
    day = ibis.date(as_of)
    bought = _purchases(orders, as_of=as_of)
    base = customer_features(bought, customers, as_of=as_of)
    base = base.filter(base.frequency > 0)

    # The usual gap between shopping days: same-day orders (a basket split in several orders, CDNOW's rows) are
    # one visit, so every gap is at least a day and "N× their usual gap" stays meaningful.
    days = bought.select("customer_id", "order_date").distinct()
    by_day = ibis.window(group_by=days.customer_id, order_by=days.order_date)
    days = days.mutate(gap=days.order_date.delta(days.order_date.lag().over(by_day), unit="day"))
    usual = days.group_by("customer_id").aggregate(usual_gap_days=days.gap.median().cast("float64"))

    aged = bought.mutate(age_days=day.delta(bought.order_date, unit="day"))
    recent = aged.age_days < WINDOW_DAYS
    previous = (aged.age_days >= WINDOW_DAYS) & (aged.age_days < 2 * WINDOW_DAYS)
    windows = aged.group_by("customer_id").aggregate(
        orders_90d=aged.count(where=recent),
        spend_90d_cents=aged.net_cents.sum(where=recent),
        orders_prev_90d=aged.count(where=previous),
        spend_prev_90d_cents=aged.net_cents.sum(where=previous),
    )

    paid = orders.filter(orders.is_paid, orders.ordered_at < end)
    refunds = paid.group_by("customer_id").aggregate(
        paid_orders=paid.count(),
        refunded_orders=paid.count(where=paid.refunded_cents.fill_null(0) > 0),
    )

    joined = base.left_join(usual, "customer_id").left_join(windows, "customer_id").left_join(refunds, "customer_id")
    freq = joined.frequency
    recency = joined.recency_days
    paid_orders = joined.paid_orders.fill_null(0)
    return joined.select(
        customer_id=joined.customer_id,
        recency_days=recency.cast("int64"),
        frequency=freq.cast("int64"),
        monetary_cents=joined.monetary_cents.cast("int64"),
        aov_cents=joined.aov_cents.cast("int64"),
        tenure_days=day.delta(joined.first_order_date, unit="day").cast("int64"),
        median_gap_days=joined.median_gap_days.cast("float64"),
        usual_gap_days=joined.usual_gap_days.cast("float64"),
        gap_ratio=recency.cast("float64") / joined.usual_gap_days.cast("float64"),  # NULL with one shopping day
        orders_90d=joined.orders_90d.fill_null(0).cast("int64"),
        spend_90d_cents=joined.spend_90d_cents.fill_null(0).cast("int64"),
        orders_prev_90d=joined.orders_prev_90d.fill_null(0).cast("int64"),
        spend_prev_90d_cents=joined.spend_prev_90d_cents.fill_null(0).cast("int64"),
        refund_share=ibis.ifelse(
            paid_orders > 0,
            joined.refunded_orders.fill_null(0).cast("float64") / paid_orders.cast("float64"),
            ibis.literal(0.0),
        ),
        paid_orders=paid_orders.cast("int64"),
        refunded_orders=joined.refunded_orders.fill_null(0).cast("int64"),
    )


def _to_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    for column in TABLE_COLUMNS:
        frame[column] = frame[column].astype("float64" if column in _FLOAT_COLUMNS else "int64")
    frame["customer_id"] = frame["customer_id"].astype("int64")
    return frame.set_index("customer_id").sort_index()[list(TABLE_COLUMNS)]


def bgnbd_columns(frame: pd.DataFrame, *, horizon_days: int) -> pd.DataFrame:
    """``p_alive`` and ``p_no_purchase`` (no purchase in the next ``horizon_days``) of each row, from a BG/NBD
    fitted on the frame itself in days (x = purchases − 1, t_x = tenure − recency, T = tenure).

    P(no purchase in (T, T + h]) = 1 − P(alive)·(1 − ((α + T)/(α + T + h))^(r + x)) (see
    :func:`kehu.models.validation.probability_purchase_in_holdout`). Both are NaN when BG/NBD cannot be fitted
    (e.g. nobody bought twice); the gradient boosting handles missing values.
    """
    from kehu.models.beta_geo import BetaGeoModel
    from kehu.models.validation import probability_purchase_in_holdout

    out = pd.DataFrame({name: np.nan for name in BGNBD_COLUMNS}, index=frame.index)
    if frame.empty:
        return out
    x = np.maximum(frame["frequency"].to_numpy(dtype="float64") - 1, 0)
    age = frame["tenure_days"].to_numpy(dtype="float64")
    t_x = np.where(x > 0, age - frame["recency_days"].to_numpy(dtype="float64"), 0.0)
    try:
        bg = BetaGeoModel(time_unit="days").fit(x, t_x, age)
    except KehuError:
        return out
    p_alive = np.asarray(bg.probability_alive(x, t_x, age))
    buys = probability_purchase_in_holdout(horizon_days, x, age, p_alive, r=bg.params_["r"], alpha=bg.params_["alpha"])
    out["p_alive"] = p_alive
    out["p_no_purchase"] = 1.0 - buys
    return out


def _features(con: Any, o: ir.Table, c: ir.Table, as_of: date, horizon_days: int) -> pd.DataFrame:
    frame = _to_frame(con.to_pyarrow(churn_feature_table(o, c, as_of=as_of)))
    return frame.join(bgnbd_columns(frame, horizon_days=horizon_days))


def churn_features(orders: pa.Table, customers: pa.Table, *, as_of: date, horizon_days: int = 90,
                   backend: Any | None = None) -> pd.DataFrame:
    """Churn features of every customer with at least one purchase on or before ``as_of``.

    A purchase is a paid order that is not fully refunded, worth its amount net of refunds. Only orders on or
    before ``as_of`` (calendar day of ``ordered_at``) are read: adding later orders never changes the result.

    Parameters
    ----------
    orders
        Arrow table with ``customer_id`` (int64), ``ordered_at`` (timestamp), ``amount_cents`` (int64),
        ``refunded_cents`` (int64, may be null = 0) and ``is_paid`` (bool), as
        :func:`kehu.analytics.classify.load_inputs` returns it.
    customers
        Arrow table with column ``id``; customers without a purchase by ``as_of`` get no row.
    as_of
        The date the features describe (inclusive).
    horizon_days
        The horizon of ``p_no_purchase`` (the churn model's horizon).
    backend
        An Ibis backend to run on; default a fresh in-process DuckDB (:func:`~kehu.analytics.engines.duckdb_backend`).

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id`` (int64, ascending); columns :data:`FEATURE_COLUMNS`:

        * ``recency_days`` — days from the last purchase to ``as_of`` (0 = bought on ``as_of``);
        * ``frequency`` — purchases; ``monetary_cents`` — their net total; ``aov_cents`` — mean per purchase,
          rounded half up (cents);
        * ``tenure_days`` — days from the first purchase to ``as_of``;
        * ``median_gap_days`` — median days between consecutive purchases, same-day ones giving a gap of 0, as in
          the classification snapshot and the lifecycle rules (NaN with one purchase);
        * ``usual_gap_days`` — median days between consecutive distinct purchase days (same-day orders are one
          visit, so it is ≥ 1; NaN with a single purchase day);
        * ``gap_ratio`` — recency_days / usual_gap_days: how many usual gaps the current silence lasts (NaN with a
          single purchase day, i.e. one purchase or all on one day);
        * ``orders_90d``, ``spend_90d_cents`` — purchases and net spend in the 90 days ending on ``as_of``;
          ``orders_prev_90d``, ``spend_prev_90d_cents`` — the same in the 90 days before those;
        * ``refund_share`` — refunded_orders / paid_orders (0..1);
        * ``paid_orders`` — paid orders including fully refunded ones; ``refunded_orders`` — those with any
          refund;
        * ``p_alive``, ``p_no_purchase`` — BG/NBD's P(alive) and P(no purchase in the next ``horizon_days``)
          (:func:`bgnbd_columns`).
    """
    con = backend or _backend()
    return _features(con, _orders_expr(orders), _customers_expr(customers), as_of, horizon_days)


# ------------------------------------------------------------------------------------------------ labels


def _buyers_between(con: Any, o: ir.Table, start: date, end: date) -> np.ndarray:
    bought = _purchases(o, as_of=end)
    ids = bought.filter(bought.order_date > ibis.date(start)).select("customer_id").distinct()
    return con.to_pyarrow(ids).column("customer_id").to_numpy(zero_copy_only=False).astype("int64")


def churn_labels(orders: pa.Table, customer_ids: Any, *, start: date, end: date,
                 backend: Any | None = None) -> np.ndarray:
    """Whether each customer made no purchase in (``start``, ``end``].

    Parameters
    ----------
    orders
        Arrow orders table (columns as for :func:`churn_features`).
    customer_ids
        Customer ids (array-like of int), e.g. the index of a :func:`churn_features` frame.
    start, end
        The window, in calendar days: orders dated after ``start`` and on or before ``end`` count.
    backend
        An Ibis backend; default a fresh in-process DuckDB.

    Returns
    -------
    numpy.ndarray of bool
        One value per id, in the given order: ``True`` (churned) when the customer has no paid, not fully refunded
        order in the window.

    Raises
    ------
    InvalidInput
        When ``end`` is not after ``start``.
    """
    if end <= start:
        raise InvalidInput(f"label window end {end.isoformat()} must be after its start {start.isoformat()}")
    con = backend or _backend()
    ids = np.asarray(customer_ids, dtype="int64")
    return ~np.isin(ids, _buyers_between(con, _orders_expr(orders), start, end))


# ------------------------------------------------------------------------------------------------ model


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


class ChurnModel:
    """Probability that a customer makes no purchase in the next ``horizon_days`` (gradient boosting).

    Follows scikit-learn's conventions: hyper-parameters in ``__init__``, data in :meth:`fit` (returns ``self``),
    fitted attributes end in ``_``; :meth:`predict_risk` and :meth:`report` raise :class:`~kehu.errors.NotFitted`
    before :meth:`fit`.

    Parameters
    ----------
    horizon_days
        h, the churn horizon in days: "churned" = no purchase in the h days after the feature date.
    random_state
        Seed of the training-row subsample, the classifier's early-stopping split and the importance sample.
    max_train_rows
        At most this many training rows (customers) per fit; above it a seeded random subsample is used.

    Attributes
    ----------
    model_ : sklearn.ensemble.HistGradientBoostingClassifier
        Fit on the latest split (features at D − h, labels in (D − h, D]); scores customers at D.
    auc_ : float
        ROC AUC on the test split (features at D − h) of a model trained on the earlier split (D − 2h).
    baseline_auc_ : float or None
        ROC AUC of ``baseline`` on the same test rows, when a baseline was given and scored.
    baseline_error_ : str or None
        The message of the :class:`~kehu.errors.KehuError` the baseline raised (the fit goes on without it).
    train_rows_, test_rows_, refit_rows_ : int
        Rows of the evaluation fit (after any subsample), of the test split, and of the refit on it.
    churn_rate_ : float
        Share of test rows labelled churned.
    as_of_ : datetime.date
        D.
    feature_importances_ : dict of str to float
        Mean drop in test AUC when each feature is permuted (seeded sample of at most 5,000 test rows; empty when
        that sample holds a single class).
    """

    def __init__(self, *, horizon_days: int = 90, random_state: int = 0, max_train_rows: int = 500_000) -> None:
        self.horizon_days = horizon_days
        self.random_state = random_state
        self.max_train_rows = max_train_rows

    # -------------------------------------------------------------------------------------------- fit

    def fit(self, orders: pa.Table, customers: pa.Table, *, as_of: date, baseline: Baseline | None = None,
            backend: Any | None = None) -> ChurnModel:
        """Evaluate on a time split, then refit on the latest full horizon (see the module docstring).

        Parameters
        ----------
        orders, customers
            Arrow tables as for :func:`churn_features`; orders after ``as_of`` are ignored.
        as_of
            D, the date the model will score at.
        baseline
            Optional ``baseline(features, feature_date) -> churn score per row`` (higher = more likely to churn),
            e.g. 1 − P(alive) from BG/NBD; its AUC on the test split goes to ``baseline_auc_``. When it raises a
            :class:`~kehu.errors.KehuError` (its own model failed), the message goes to ``baseline_error_``.
        backend
            An Ibis backend; default a fresh in-process DuckDB.

        Returns
        -------
        ChurnModel
            ``self``.

        Raises
        ------
        InvalidInput
            When the hyper-parameters are out of range, when no purchase is on or before D − 2h (the history is
            too short: the message says how much is needed), or when a split's labels hold a single class.
        """
        from sklearn.ensemble import HistGradientBoostingClassifier

        h = int(self.horizon_days)
        if h < 1:
            raise InvalidInput(f"horizon_days must be at least 1, not {self.horizon_days}")
        if self.max_train_rows < 2:
            raise InvalidInput(f"max_train_rows must be at least 2, not {self.max_train_rows}")
        con = backend or _backend()
        o = _orders_expr(orders)
        c = _customers_expr(customers)
        train_at = as_of - timedelta(days=2 * h)
        test_at = as_of - timedelta(days=h)

        x_train = _features(con, o, c, train_at, h)
        if x_train.empty:
            first = _first_purchase(con, o, as_of)
            seen = f"the first order is on {first.isoformat()}" if first else "there is no purchase on or before it"
            raise InvalidInput(f"churn model needs orders from at least 2 × horizon = {2 * h} days before "
                               f"{as_of.isoformat()} (on or before {train_at.isoformat()}); {seen}. Use a later "
                               "as-of date or a shorter horizon.")
        y_train = ~np.isin(x_train.index.to_numpy(), _buyers_between(con, o, train_at, test_at))
        x_test = _features(con, o, c, test_at, h)
        y_test = ~np.isin(x_test.index.to_numpy(), _buyers_between(con, o, test_at, as_of))
        _two_classes(y_train, "training", train_at, test_at)
        _two_classes(y_test, "test", test_at, as_of)
        train_rows = self._sample(len(x_train))
        refit_rows = self._sample(len(x_test))
        _two_classes(y_train[train_rows], "training (subsampled)", train_at, test_at)
        _two_classes(y_test[refit_rows], "scoring (subsampled)", test_at, as_of)

        def classifier(x: np.ndarray, y: np.ndarray) -> HistGradientBoostingClassifier:
            with _threads(len(y)):
                return HistGradientBoostingClassifier(**CLASSIFIER_PARAMS, random_state=self.random_state).fit(x, y)

        evaluation = classifier(_matrix(x_train.iloc[train_rows]), y_train[train_rows])
        auc = _auc(y_test, _churn_proba(evaluation, _matrix(x_test)))
        baseline_auc, baseline_error = None, None
        if baseline is not None:
            try:
                base_score = np.asarray(baseline(x_test, test_at), dtype="float64")
            except KehuError as e:  # e.g. the baseline's own model did not converge: report it, keep this model
                baseline_error = str(e)
            else:
                if base_score.shape != (len(x_test),):
                    raise InvalidInput(f"baseline returned {base_score.shape[0] if base_score.ndim else 0} scores "
                                       f"for {len(x_test)} feature rows; it must return one churn score per row")
                baseline_auc = _auc(y_test, base_score)
        importances = self._importances(evaluation, x_test, y_test)
        model = classifier(_matrix(x_test.iloc[refit_rows]), y_test[refit_rows])

        # Set together, at the end: a failed refit never leaves a mix of two fits behind.
        self.model_ = model
        self.auc_ = auc
        self.baseline_auc_: float | None = baseline_auc
        self.baseline_error_: str | None = baseline_error
        self.feature_importances_ = importances
        self.train_rows_ = len(train_rows)
        self.test_rows_ = len(x_test)
        self.refit_rows_ = len(refit_rows)
        self.churn_rate_ = float(y_test.mean())
        self.train_churn_rate_ = float(y_train.mean())
        self.as_of_ = as_of
        self.train_at_ = train_at
        self.test_at_ = test_at
        return self

    def _sample(self, n: int) -> np.ndarray:
        """Row positions to train on: all of them, or a seeded sorted subsample of ``max_train_rows``."""
        if n <= self.max_train_rows:
            return np.arange(n)
        rng = np.random.default_rng(self.random_state)
        return np.sort(rng.choice(n, size=self.max_train_rows, replace=False))

    def _importances(self, model: Any, x_test: pd.DataFrame, y_test: np.ndarray) -> dict[str, float]:
        from sklearn.inspection import permutation_importance

        rng = np.random.default_rng(self.random_state)
        rows = np.arange(len(x_test))
        if len(rows) > IMPORTANCE_ROWS:
            rows = np.sort(rng.choice(len(rows), size=IMPORTANCE_ROWS, replace=False))
        y = y_test[rows]
        if y.all() or not y.any():
            return {}
        with _threads(len(rows)):
            result = permutation_importance(
                model, _matrix(x_test.iloc[rows]), y, scoring="roc_auc",
                n_repeats=IMPORTANCE_REPEATS, random_state=self.random_state,
            )
        pairs = sorted(zip(MODEL_FEATURES, result.importances_mean, strict=True), key=lambda kv: -kv[1])
        return {name: round(float(value), 6) for name, value in pairs}

    # -------------------------------------------------------------------------------------------- use

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFitted("ChurnModel is not fitted yet: call fit(orders, customers, as_of=...) first")

    def predict_risk(self, features: pd.DataFrame) -> np.ndarray:
        """Probability (0..1) that each customer makes no purchase in the ``horizon_days`` after the features' date.

        Parameters
        ----------
        features
            A :func:`churn_features` frame (normally at the fitted ``as_of``); extra columns are ignored.

        Returns
        -------
        numpy.ndarray of float64
            One probability per row, in the frame's order.

        Raises
        ------
        NotFitted
            Before :meth:`fit`.
        InvalidInput
            When a model feature column is missing.
        """
        self._check_fitted()
        missing = [c for c in MODEL_FEATURES if c not in features.columns]
        if missing:
            raise InvalidInput(f"features frame is missing column(s) {', '.join(missing)}; "
                               "compute it with kehu.models.churn.churn_features")
        if features.empty:
            return np.empty(0, dtype="float64")
        return _churn_proba(self.model_, _matrix(features))

    def report(self) -> dict[str, Any]:
        """The fit's figures as a JSON-ready dict (numbers, ISO dates, feature → importance).

        Keys: ``horizon_days``, ``as_of``, ``auc``, ``baseline_auc`` (``None`` without a baseline),
        ``baseline_error`` (why the baseline gave no score, ``None`` when it did or was not given),
        ``train_rows``, ``test_rows``, ``refit_rows``, ``churn_rate`` (test split), ``train_churn_rate``,
        ``splits`` (feature dates and label windows of the train, test and scoring fits) and
        ``feature_importances``.

        Raises
        ------
        NotFitted
            Before :meth:`fit`.
        """
        self._check_fitted()
        return {
            "horizon_days": int(self.horizon_days),
            "as_of": self.as_of_.isoformat(),
            "auc": round(self.auc_, 6),
            "baseline_auc": None if self.baseline_auc_ is None else round(self.baseline_auc_, 6),
            "baseline_error": self.baseline_error_,
            "train_rows": int(self.train_rows_),
            "test_rows": int(self.test_rows_),
            "refit_rows": int(self.refit_rows_),
            "churn_rate": round(self.churn_rate_, 6),
            "train_churn_rate": round(self.train_churn_rate_, 6),
            "splits": {
                "train": {"features_at": self.train_at_.isoformat(),
                          "labels": [self.train_at_.isoformat(), self.test_at_.isoformat()]},
                "test": {"features_at": self.test_at_.isoformat(),
                         "labels": [self.test_at_.isoformat(), self.as_of_.isoformat()]},
                "scoring": {"features_at": self.as_of_.isoformat(), "trained_on": "test"},
            },
            "feature_importances": dict(self.feature_importances_),
        }


def _threads(rows: int) -> AbstractContextManager[Any]:
    """Limit OpenMP (the classifier's threads) to one thread for fewer than :data:`THREADED_ROWS` rows."""
    if rows >= THREADED_ROWS:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _matrix(features: pd.DataFrame) -> np.ndarray:
    """The model's input matrix. A column that is NaN in every row (BG/NBD could not be fitted at that date, or no
    one has a second purchase day yet) becomes 0: scikit-learn's binning fails on a feature without any value."""
    x = features.loc[:, list(MODEL_FEATURES)].to_numpy(dtype="float64")
    if len(x):
        x[:, np.isnan(x).all(axis=0)] = 0.0
    return x


def _churn_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """P(label True) from a fitted classifier, whatever the order of its ``classes_``."""
    column = list(model.classes_).index(True)
    with _threads(len(x)):
        return np.asarray(model.predict_proba(x)[:, column], dtype="float64")


def _two_classes(y: np.ndarray, split: str, start: date, end: date) -> None:
    if y.all() or not y.any():
        what = "churned (no purchase)" if y.all() else "bought again"
        raise InvalidInput(f"churn model {split} split has a single class: all {len(y)} customers {what} in "
                           f"({start.isoformat()}, {end.isoformat()}]; it needs both buyers and churners. Use more "
                           "customers, a longer history or a different horizon.")


def _first_purchase(con: Any, o: ir.Table, as_of: date) -> date | None:
    bought = _purchases(o, as_of=as_of)
    value = con.to_pyarrow(bought.aggregate(first=bought.order_date.min())).column("first")[0].as_py()
    return value if isinstance(value, date) else None
