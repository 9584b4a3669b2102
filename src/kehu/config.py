"""Settings: one object, read from ``KEHU_*`` environment variables (and a ``.env`` file if present).

Every field has a description; ``docs/configuration.md`` and the README list them and a test checks that none is
undocumented.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """kehu's configuration. Environment variable = ``KEHU_`` + the upper-cased field name."""

    model_config = SettingsConfigDict(env_prefix="KEHU_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        Path("kehu-data"),
        description="Folder for the default SQLite store (kehu.db), the key file, rejects files and the "
        "analytics cache (analytics/, safe to delete).",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store, e.g. postgresql+psycopg://user@host/db. "
        "Default: sqlite file kehu.db inside data_dir.",
    )
    secret_key: str | None = Field(
        None,
        description="Secret for encrypting personal data and signing sessions (at least 32 characters). "
        "Default: a random key created once in data_dir/secret.key with mode 0600.",
    )
    admin_password: str | None = Field(
        None,
        description="First password of the 'admin' user created by `kehu init`. Default: a random one, printed once.",
    )
    engine: Literal["duckdb", "postgres", "spark"] = Field(
        "duckdb",
        description="Where classification runs: duckdb (in-process, the default), postgres (inside the PostgreSQL "
        "store) or spark (Apache Spark through PySpark; needs the spark extra and Java). Same definitions, same "
        "snapshot.",
    )
    spark_master: str = Field(
        "local[2]", description="Spark engine: the master URL (local[N], yarn, spark://host:7077, k8s://…)."
    )
    spark_conf: str | None = Field(
        None,
        description="Spark engine: extra Spark settings as key=value pairs separated by commas, e.g. "
        "spark.driver.memory=8g,spark.sql.shuffle.partitions=64 (spark-submit's --conf does the same).",
    )
    spark_orders: str | None = Field(
        None,
        description="Spark engine: read the orders from this Parquet path or Spark/Hive table instead of the store. "
        "Columns: source, external_id, customer_external_id, ordered_at, amount_cents, refunded_cents, is_paid.",
    )
    rfm_split: Literal["mean", "median"] = Field(
        "mean", description="How the 8-class RFM model splits high/low for R, F and M: population mean or median."
    )
    rfm_window_days: int | None = Field(
        None, ge=1, description="Only orders in the last N days before the as-of date count for RFM. Default: all."
    )
    lifecycle_churned_days: int = Field(
        365, ge=1, description="Lifecycle: churned when s (days since last order) > this."
    )
    lifecycle_winback_recent_days: int = Field(
        90, ge=1, description="Lifecycle: won back when s <= this and the gap before the latest order >= winback_gap."
    )
    lifecycle_winback_gap_days: int = Field(365, ge=1, description="Lifecycle: the gap that makes a return a win-back.")
    lifecycle_new_days: int = Field(90, ge=1, description="Lifecycle: new when exactly one order and s <= this.")
    lifecycle_at_risk_gap_factor: float = Field(
        2.0, gt=0, description="Lifecycle: at risk (2+ orders) when s > max(factor * median gap, at_risk_min_days)."
    )
    lifecycle_at_risk_min_days: int = Field(60, ge=1, description="Lifecycle: the floor of the at-risk threshold.")
    lifecycle_single_at_risk_days: int = Field(
        180, ge=1, description="Lifecycle: a one-order customer is at risk when s > this."
    )
    predict: bool = Field(
        True, description="`kehu classify` also runs the predictive models (CLV, P(alive), churn risk, clusters, "
        "recommendations) and stores them in the snapshot; off = RFM and lifecycle only.",
    )
    clv_monthly_discount_rate: float = Field(
        0.01, ge=0, lt=1, description="CLV: monthly discount rate for the 12-month customer lifetime value."
    )
    clv_high_share: float = Field(0.2, gt=0, lt=1, description="CLV tier: the top share of buyers called 'high'.")
    clv_medium_share: float = Field(
        0.3, gt=0, lt=1, description="CLV tier: the next share of buyers called 'medium'; the rest are 'low'."
    )
    churn_horizon_days: int = Field(
        90, ge=7, description="Churn model: predicts 'no purchase in the next N days'; needs 2N days of history."
    )
    churn_risk_threshold: float = Field(
        0.5, gt=0, lt=1, description="Churn: customers not yet churned (lifecycle) whose risk is at or above this are "
        "at risk and get up to three reasons.",
    )
    membership_silver_yuan: int = Field(
        1_000, ge=1, description="Membership: trailing-window paid spend (yuan) from which a customer is silver "
        "(银卡).",
    )
    membership_gold_yuan: int = Field(
        5_000, ge=1, description="Membership: trailing-window paid spend (yuan) from which a customer is gold (金卡).",
    )
    membership_diamond_yuan: int = Field(
        20_000, ge=1, description="Membership: trailing-window paid spend (yuan) from which a customer is diamond "
        "(钻石); below silver a customer is standard (普通). The three must rise: silver < gold < diamond.",
    )
    membership_window_months: int = Field(
        12, ge=1, le=120, description="Membership: tiers count the paid, not refunded spend of this many months "
        "up to the as-of date.",
    )
    points_per_yuan: float = Field(
        1.0, ge=0, le=1000, description="Points earned per paid yuan of an order (rounded down per order); "
        "a partial refund takes back the same share of the order's points.",
    )
    points_expiry_months: int = Field(
        24, ge=1, le=240, description="Points expire this many months after they were earned (the oldest are "
        "redeemed first).",
    )
    import_batch_rows: int = Field(
        500_000, ge=1000, description="Rows per import transaction; a crash keeps the batches already committed."
    )
    host: str = Field("127.0.0.1", description="Address `kehu serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `kehu serve` listens on.")
    session_hours: int = Field(12, ge=1, description="A web sign-in expires after this many hours.")
    secure_cookies: bool = Field(
        False, description="Send the session cookie over HTTPS only; turn on when kehu is served behind HTTPS."
    )
    feedback_sla_hours: int = Field(
        24, ge=1, le=24 * 90, description="Feedback: the first response is due this many hours after a complaint or "
        "review came in; unanswered feedback past it is flagged overdue.",
    )
    language: Literal["zh", "en"] = Field("zh", description="Default language of the web app.")
    workers: int = Field(
        1, ge=1, le=64, description="Worker processes of `kehu serve` behind its one port (about one per core); "
        "sign-ins work across them (signed session cookies), the sign-in throttle and import progress are per "
        "process.",
    )

    @field_validator("secret_key")
    @classmethod
    def _secret_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("KEHU_SECRET_KEY must be at least 32 characters; leave it unset to use a key file")
        return value

    @model_validator(mode="after")
    def _tiers_rise(self) -> Settings:
        if not self.membership_silver_yuan < self.membership_gold_yuan < self.membership_diamond_yuan:
            raise ValueError(
                "membership tier thresholds must rise: KEHU_MEMBERSHIP_SILVER_YUAN < KEHU_MEMBERSHIP_GOLD_YUAN < "
                f"KEHU_MEMBERSHIP_DIAMOND_YUAN (got {self.membership_silver_yuan}, {self.membership_gold_yuan}, "
                f"{self.membership_diamond_yuan})"
            )
        return self

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the store (the SQLite file in ``data_dir`` unless ``database_url`` is set)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kehu.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def parse_as_of(value: str | date | None) -> date:
    """Parse an as-of date (``YYYY-MM-DD``); ``None`` means today."""
    from kehu.errors import InvalidInput

    if value is None:
        return date.today()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"as-of date {value!r} is not a date like 2025-06-30") from None
