"""Mapping, cleaning and validating the raw cells in DuckDB, set-wise.

Input: the table ``raw`` (see :mod:`kehu.ingest.readers`). Output tables:
``problems`` (line, column, value, reason: every reason a row cannot be used), ``orders_out`` / ``lines_out`` or
``customers_out`` (typed rows ready for the store), and ``skipped`` rows (a header line inside the data).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field

import duckdb

from kehu.errors import FileProblem, InvalidInput
from kehu.ingest.formats import CUSTOMER_FIELDS, ORDER_FIELDS, Format
from kehu.ingest.readers import header_key, ident

TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日",
)
_FORMATS_SQL = "[" + ", ".join(f"'{f}'" for f in TIMESTAMP_FORMATS) + "]"


def _clean(column: str) -> str:
    """SQL that strips blanks, ``="…"`` wrapping and a leading apostrophe from a cell; empty → NULL."""
    blank = "^[\\s\u3000\ufeff]+|[\\s\u3000]+$"  # RE2: the ideographic space as a literal character
    cell = ident(column)
    inner = f"regexp_replace({cell}, '{blank}', '', 'g')"
    unwrapped = f"regexp_replace(regexp_replace({inner}, '^=\"(.*)\"$', '\\1'), '^''', '')"
    # One cheap test first (first and last character; the same characters as the patterns, RE2's \\s being
    # [\\t\\n\\f\\r ]): most cells have nothing to strip and skip the three replacements.
    ends = "chr(32), chr(9), chr(10), chr(12), chr(13), chr(12288)"
    dirty = f"({cell}[1] IN ({ends}, chr(65279), '=', chr(39)) OR {cell}[-1] IN ({ends}))"
    return f"nullif(CASE WHEN {dirty} THEN regexp_replace({unwrapped}, '{blank}', '', 'g') ELSE {cell} END, '')"


def _money(column: str) -> str:
    """SQL: a money cell (``1,234.50``, ``88元``, ``¥88``) as DECIMAL(18,2), NULL when not a number.

    Commas must be thousands separators (``1,234``): ``12,5`` (a decimal comma) is not read as 125 but rejected.
    """
    bare = f"regexp_replace({column}, '[元¥￥$\\s]|CNY|RMB|USD', '', 'gi')"
    thousands = f"regexp_full_match({bare}, '[-+]?[0-9]{{1,3}}(,[0-9]{{3}})+(\\.[0-9]*)?')"
    # A plain number first: a cell the cast reads has no comma, currency or inner blank, so the rest reads it alike.
    return (f"coalesce(TRY_CAST({column} AS DECIMAL(18,2)), CASE WHEN position(',' IN {bare}) = 0 OR {thousands} "
            f"THEN TRY_CAST(replace({bare}, ',', '') AS DECIMAL(18,2)) END)")


def _timestamp(column: str) -> str:
    """SQL: a date/time cell as TIMESTAMP (local wall time as written; a trailing zone offset is dropped)."""
    zone = "([0-9]:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)\\s*(Z|UTC|GMT|[+-][0-9]{2}(:?[0-9]{2})?)$"  # only after a time
    bare = f"replace(regexp_replace({column}, '{zone}', '\\1'), 'T', ' ')"
    # The first format straight away: a cell it reads whole has no zone and no T, so the rest would read it alike.
    return f"coalesce(try_strptime({column}, '{TIMESTAMP_FORMATS[0]}'), try_strptime({bare}, {_FORMATS_SQL}))"


def _cents(decimal_sql: str) -> str:
    return f"CAST(round({decimal_sql} * 100) AS BIGINT)"


#: Widths of the store's text columns: ids longer than these are rejected, descriptive text is cut to them
#: (PostgreSQL would refuse the whole batch, SQLite would keep them: both stores must hold the same rows).
ID_WIDTH = 128
TEXT_WIDTHS = {"status": 32, "channel": 32, "province": 32, "city": 64, "product_name": 256, "category": 64,
               "sku": 128}


def _fit(column: str, field: str | None = None) -> str:
    """SQL: ``column`` cut to the store width of ``field`` (default: the column's own name)."""
    return f"left({column}, {TEXT_WIDTHS[field or column.split('.')[-1]]})"


@dataclass(frozen=True)
class Mapping:
    """Which file header feeds each canonical field.

    ``headers`` holds the first matching header (named in the rejects file); ``sources`` every matching header in
    alias order: a field takes the first non-empty of them (Shopify ``Phone`` then ``Default Address Phone``).
    """

    headers: dict[str, str]  # field → header as found in the file
    sources: dict[str, tuple[str, ...]] = dc_field(default_factory=dict)

    def column(self, field: str) -> str:
        """The header name shown in the rejects file for ``field``."""
        return self.headers.get(field, field)


def resolve_mapping(fmt: Format, headers: list[str], overrides: dict[str, str], file: str) -> Mapping:
    """Match the file's ``headers`` to ``fmt``'s fields by alias (``overrides`` first: FIELD → HEADER).

    Raises :class:`FileProblem` naming the file, the missing fields and the headers found.
    """
    fields = set(fmt.aliases) | set(fmt.derived)
    canonical = ORDER_FIELDS if fmt.kind == "orders" else CUSTOMER_FIELDS
    for name in overrides:
        if name not in canonical:
            raise InvalidInput(
                f"--map {name}=…: {name!r} is not a {fmt.kind} field; fields are: {', '.join(canonical)}")
    by_key = {header_key(h): h for h in headers}
    found: dict[str, str] = {}
    sources: dict[str, tuple[str, ...]] = {}
    for name, header in overrides.items():
        if header not in headers and header_key(header) not in by_key:
            raise FileProblem(
                f"{file}: --map {name}={header}: no column {header!r}; headers found: {', '.join(headers)}")
        found[name] = header if header in headers else by_key[header_key(header)]
        sources[name] = (found[name],)
    for name in fields:
        if name in found:
            continue
        matches = tuple(dict.fromkeys(by_key[header_key(a)] for a in fmt.aliases.get(name, ())
                                      if header_key(a) in by_key))
        if matches:
            found[name], sources[name] = matches[0], matches
    missing = [f for f in fmt.required if f not in found and f not in fmt.derived]
    if missing:
        shown = ", ".join(headers) if headers else "(none)"
        hints = "; ".join(f"{m} (looked for: {', '.join(fmt.aliases.get(m, (m,)))})" for m in missing)
        raise FileProblem(
            f"{file}: required column missing for format {fmt.name!r}: {hints}. Headers found: {shown}. "
            f"Name the column with --map FIELD=HEADER."
        )
    return Mapping(found, sources)


def build_mapped(con: duckdb.DuckDBPyConnection, fmt: Format, mapping: Mapping) -> None:
    """Create ``mapped``: one cleaned text column per canonical and helper field, derived fields applied."""
    canonical = ORDER_FIELDS if fmt.kind == "orders" else CUSTOMER_FIELDS
    helpers = [f for f in fmt.aliases if f.startswith("__")]
    parts = ["__line", "__cells"]
    for name in list(canonical) + helpers:
        cells = [_clean(h) for h in mapping.sources.get(name, ())]
        expr = (cells[0] if len(cells) == 1 else f"coalesce({', '.join(cells)})") if cells else "CAST(NULL AS VARCHAR)"
        parts.append(f'{expr} AS "{name}"')
    # Without derived fields, skipped lines or e-mail keys nothing rewrites ``mapped``: a view, so the cleaning runs
    # inside the next step instead of materialising a second copy of the file (gigabytes for 10M rows).
    kind = "TABLE" if fmt.derived or fmt.skip_sql or fmt.customer_id_is_email else "VIEW"
    con.execute(f"CREATE OR REPLACE {kind} mapped AS SELECT {', '.join(parts)} FROM raw")
    if fmt.derived:
        replaced = ", ".join(f'({expr}) AS "{name}"' for name, expr in fmt.derived.items())
        con.execute(f"CREATE OR REPLACE TABLE mapped AS SELECT * REPLACE ({replaced}) FROM mapped")
    con.execute("CREATE OR REPLACE TABLE skipped (__line BIGINT)")
    if fmt.skip_sql:
        con.execute(f"INSERT INTO skipped SELECT __line FROM mapped WHERE {fmt.skip_sql}")
        con.execute("DELETE FROM mapped WHERE __line IN (SELECT __line FROM skipped)")


def drop_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """Drop ``mapped`` (a view or a table) and ``raw`` once the typed rows are built."""
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                             "WHERE table_name IN ('mapped', 'raw')").fetchall())
    for name in ("mapped", "raw"):
        if name in kinds:
            con.execute(f"DROP {'VIEW' if kinds[name] == 'VIEW' else 'TABLE'} {name}")


def _problem(condition: str, column: str, value_sql: str, reason_sql: str) -> str:
    col = column.replace("'", "''")
    return (f"CASE WHEN {condition} THEN struct_pack(col := '{col}', val := CAST({value_sql} AS VARCHAR), "
            f"why := {reason_sql}) END")


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def transform_orders(con: duckdb.DuckDBPyConnection, fmt: Format, mapping: Mapping, n_headers: int,
                     source: str) -> None:
    """Validate ``mapped`` order rows and build ``problems``, ``orders_out``, ``lines_out``, ``customers_out``.

    ``orders_out`` is stored sorted by order id, so its ``rowid`` is the order's place in the import's batches.
    """
    c = mapping.column
    given = set(mapping.sources) | set(fmt.derived) | ({"email"} if fmt.customer_id_is_email else set())
    null_text = "CAST(NULL AS VARCHAR)"

    def first_given(field: str) -> str:
        """SQL: the customer's first non-empty ``field`` (file order)."""
        return maybe(field, f"arg_min({field}, CASE WHEN {field} IS NULL THEN 1 ELSE 0 END * 1e12 + __line)",
                     null_text)

    def maybe(field: str, sql: str, null_sql: str = "NULL") -> str:
        """``sql`` when the file has ``field``, else its value for an empty column (no work per row)."""
        return sql if field in given else null_sql

    # The first row of each order: a hash aggregate over the order ids that repeat, joined back (IS NOT DISTINCT
    # FROM: rows without an order id form one group, as in a window partition), instead of two sorting windows.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE repeats AS
        SELECT order_id, min(__line) AS __first, arg_min_null(customer_id, __line) AS __order_customer
        FROM mapped GROUP BY order_id HAVING count(*) > 1
    """)
    first = "__line = __first"
    conditions: list[str] = []

    def problem(condition: str, column: str, value_sql: str, reason_sql: str) -> str:
        conditions.append(condition)
        return _problem(condition, column, value_sql, reason_sql)

    checks = [
        problem(f"__cells > {n_headers}", "*", "__cells",
                 f"'the row has ' || __cells || ' cells but the header has {n_headers}'"),
        problem("order_id IS NULL", c("order_id"), "NULL", "'empty; every row needs an order id'"),
        problem(f"length(order_id) > {ID_WIDTH}", c("order_id"), "order_id",
                 f"'longer than {ID_WIDTH} characters'"),
        problem(f"{first} AND length(customer_id) > {ID_WIDTH}", c("customer_id"), "customer_id",
                 f"'longer than {ID_WIDTH} characters'"),
        problem(f"length(sku) > {ID_WIDTH}", c("sku"), "sku", f"'longer than {ID_WIDTH} characters'"),
        problem(f"{first} AND customer_id IS NULL", c("customer_id"), "NULL", "'empty; every order needs a customer'"),
        problem(f"{first} AND ordered_at IS NULL", c("ordered_at"), "NULL", "'empty; every order needs a date'"),
        problem(f"{first} AND ordered_at IS NOT NULL AND ordered_at_v IS NULL", c("ordered_at"), "ordered_at",
                 "'not a date/time (expected e.g. 2025-03-02 14:41:00, 2025/3/2 2:41 or 20250302)'"),
        problem(f"{first} AND ordered_at_v IS NOT NULL AND (year(ordered_at_v) < 1970 OR year(ordered_at_v) > 2100)",
                 c("ordered_at"), "ordered_at", "'date outside 1970–2100'"),
        problem(f"{first} AND amount IS NULL", c("amount"), "NULL", "'empty; every order needs an amount'"),
        problem(f"{first} AND amount IS NOT NULL AND amount_v IS NULL", c("amount"), "amount",
                 "'not an amount (expected a number such as 88.50)'"),
        problem(f"{first} AND amount_v < 0", c("amount"), "amount", "'negative amount'"),
        problem(f"{first} AND refunded IS NOT NULL AND refunded_v IS NULL", c("refunded"), "refunded",
                 "'not an amount'"),
        problem(f"{first} AND refunded_v < 0", c("refunded"), "refunded", "'negative refund'"),
        problem(f"{first} AND refunded_v > amount_v", c("refunded"), "refunded",
                 "'refund ' || refunded_v || ' is more than the order amount ' || amount_v"),
        problem(f"{first} AND discount IS NOT NULL AND discount_v IS NULL", c("discount"), "discount",
                 "'not an amount'"),
        problem("quantity IS NOT NULL AND (quantity_v IS NULL OR quantity_v < 0 OR quantity_v <> floor(quantity_v))",
                 c("quantity"), "quantity", "'not a whole number ≥ 0'"),
        problem("quantity_v >= 1e9", c("quantity"), "quantity", "'too large (at most 999,999,999)'"),
        problem("unit_price IS NOT NULL AND (unit_price_v IS NULL OR unit_price_v < 0)", c("unit_price"),
                 "unit_price", "'not an amount ≥ 0'"),
        problem(f"NOT ({first}) AND customer_id IS NOT NULL AND customer_id <> __order_customer", c("customer_id"),
                 "customer_id", "'order ' || order_id || ' already belongs to customer ' || __order_customer || "
                 "' (line ' || __first || ')'"),
        problem(f"order_id IS NOT NULL AND NOT ({first}) AND NOT __is_line", c("order_id"), "order_id",
                 "'order id repeats line ' || __first || ' without a product (sku or product_name) on this row'"),
    ]
    # One flag per row (any check true); the lists of reasons are built for flagged rows only.
    flagged = " OR ".join(f"coalesce({condition}, false)" for condition in conditions)
    quantity = "TRY_CAST(regexp_replace(m.quantity, '[件个,\\s]', '', 'g') AS DOUBLE)"
    con.execute(f"""
        CREATE OR REPLACE TABLE typed AS
        SELECT *, ({flagged}) AS __bad FROM (
        SELECT m.*,
            coalesce(r.__first, m.__line) AS __first,
            CASE WHEN r.__first IS NULL THEN m.customer_id ELSE r.__order_customer END AS __order_customer,
            {_timestamp('m.ordered_at')} AS ordered_at_v,
            {_money('m.amount')} AS amount_v,
            {maybe('refunded', _money('m.refunded'))} AS refunded_v,
            {maybe('discount', _money('m.discount'))} AS discount_v,
            {maybe('unit_price', _money('m.unit_price'))} AS unit_price_v,
            {maybe('quantity', quantity)} AS quantity_v,
            ({fmt.paid_sql or 'true'}) AS is_paid_v,
            (m.sku IS NOT NULL OR m.product_name IS NOT NULL) AS __is_line
        FROM mapped m LEFT JOIN repeats r ON r.order_id IS NOT DISTINCT FROM m.order_id)
    """)
    drop_inputs(con)
    con.execute(f"""
        CREATE OR REPLACE TABLE row_problems AS
        SELECT __line, order_id, __first, list_filter([{', '.join(checks)}], lambda p: p IS NOT NULL) AS ps
        FROM typed WHERE __bad
    """)
    # A rejected first row takes its whole order with it.
    con.execute("""
        CREATE OR REPLACE TABLE bad_orders AS
        SELECT DISTINCT order_id FROM row_problems WHERE __line = __first AND order_id IS NOT NULL
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE problems AS
        SELECT __line AS line, p.col AS "column", p.val AS value, p.why AS reason
        FROM (SELECT __line, unnest(ps) AS p FROM row_problems)
        UNION ALL
        SELECT r.__line, {_q(c('order_id'))}, r.order_id, 'its order was rejected at line ' || r.__first
        FROM typed r JOIN bad_orders b USING (order_id)
        WHERE NOT r.__bad AND r.__line <> r.__first
    """)
    # Good rows: not flagged and not of a rejected order (whose first row is flagged, so no row is lost).
    con.execute("""
        CREATE OR REPLACE VIEW good AS
        SELECT * EXCLUDE (__bad) FROM typed t WHERE NOT __bad AND NOT EXISTS
            (SELECT 1 FROM bad_orders b WHERE b.order_id = t.order_id)
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE lines_out AS
        SELECT order_id AS order_external_id,
               CAST(row_number() OVER (PARTITION BY order_id ORDER BY __line) AS INTEGER) AS line_no,
               sku, {_fit('product_name')} AS product_name, {_fit('category')} AS category,
               CAST(coalesce(quantity_v, 1) AS INTEGER) AS quantity,
               CAST(round(unit_price_v * 100) AS BIGINT) AS unit_price_cents
        FROM good WHERE __is_line
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE orders_out AS
        WITH sig AS (
            SELECT order_external_id,
                   string_agg(concat_ws(':', sku, product_name, category, quantity, unit_price_cents), ';'
                              ORDER BY line_no) AS lines_sig
            FROM lines_out GROUP BY order_external_id
        )
        SELECT {_q(source)} AS source, g.order_id AS external_id, g.customer_id AS customer_external_id,
               g.ordered_at_v AS ordered_at,
               {_cents('g.amount_v')} AS amount_cents,
               coalesce({_cents('g.refunded_v')}, 0) AS refunded_cents,
               coalesce({_cents('g.discount_v')}, 0) AS discount_cents,
               {_fit('g.status')} AS status, g.is_paid_v AS is_paid, {_fit('g.channel')} AS channel,
               {_fit('g.province')} AS province, {_fit('g.city')} AS city,
               md5(concat_ws('|', g.customer_id, strftime(g.ordered_at_v, '%Y-%m-%d %H:%M:%S'), g.amount_v,
                   g.refunded_v, g.discount_v, g.status, g.is_paid_v, g.channel, g.province, g.city,
                   s.lines_sig)) AS row_hash
        FROM good g LEFT JOIN sig s ON s.order_external_id = g.order_id
        WHERE g.__line = g.__first
        ORDER BY g.order_id
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE customers_out AS
        SELECT customer_id AS external_id,
               {first_given('customer_name')} AS name, {first_given('phone')} AS phone,
               {first_given('email')} AS email, {first_given('address')} AS address,
               {maybe('province', _fit('arg_min(province, __line)', 'province'), null_text)} AS province,
               {maybe('city', _fit('arg_min(city, __line)', 'city'), null_text)} AS city,
               {maybe('channel', _fit('arg_min(channel, __line)', 'channel'), null_text)} AS channel
        FROM good WHERE __line = __first GROUP BY customer_id
    """)
    con.execute("DROP VIEW good")
    con.execute("DROP TABLE typed")


#: Gender values that mean "not given" (stored as NULL, not rejected).
UNKNOWN_GENDERS = "('0','u','unknown','other','未知','保密','其他','-','n/a')"


def transform_customers(con: duckdb.DuckDBPyConnection, fmt: Format, mapping: Mapping, n_headers: int) -> None:
    """Validate ``mapped`` customer rows and build ``problems`` and ``customers_out`` (last row of an id wins)."""
    c = mapping.column
    consent_true = "('1','true','yes','y','是','同意','subscribed','opt_in','confirmed_opt_in')"
    consent_false = "('0','false','no','n','否','不同意','unsubscribed','not_subscribed','opt_out','pending','invalid')"
    con.execute(f"""
        CREATE OR REPLACE TABLE typed AS
        SELECT *,
            {_timestamp('registered_at')} AS registered_at_v,
            CASE WHEN regexp_full_match(birth_date, '[0-9]{{4}}') THEN CAST(birth_date AS INTEGER)
                 ELSE year({_timestamp('birth_date')}) END AS birth_year_v,
            CASE WHEN lower(gender) IN ('m','male','man','男','1') THEN 'male'
                 WHEN lower(gender) IN ('f','female','woman','女','2') THEN 'female' END AS gender_v,
            lower(gender) IN {UNKNOWN_GENDERS} AS gender_unknown,
            CASE WHEN lower(marketing_consent) IN {consent_true} THEN true
                 WHEN lower(marketing_consent) IN {consent_false} THEN false END AS consent_v
        FROM mapped
    """)
    checks = [
        _problem(f"__cells > {n_headers}", "*", "__cells",
                 f"'the row has ' || __cells || ' cells but the header has {n_headers}'"),
        _problem("customer_id IS NULL", c("customer_id"), "NULL", "'empty; every row needs a customer id'"),
        _problem("registered_at IS NOT NULL AND registered_at_v IS NULL", c("registered_at"), "registered_at",
                 "'not a date/time'"),
        _problem("birth_date IS NOT NULL AND (birth_year_v IS NULL OR birth_year_v < 1900 OR birth_year_v > 2100)",
                 c("birth_date"), "birth_date", "'not a birth date or year'"),
        _problem(f"length(customer_id) > {ID_WIDTH}", c("customer_id"), "customer_id",
                 f"'longer than {ID_WIDTH} characters'"),
        _problem("gender IS NOT NULL AND gender_v IS NULL AND NOT gender_unknown", c("gender"), "gender",
                 "'not a gender (expected 男/女, M/F or male/female)'"),
        _problem("marketing_consent IS NOT NULL AND consent_v IS NULL", c("marketing_consent"), "marketing_consent",
                 "'not yes/no'"),
    ]
    con.execute(f"""
        CREATE OR REPLACE TABLE row_problems AS
        SELECT __line, list_filter([{', '.join(checks)}], lambda p: p IS NOT NULL) AS ps FROM typed
    """)
    con.execute("""
        CREATE OR REPLACE TABLE problems AS
        SELECT __line AS line, p.col AS "column", p.val AS value, p.why AS reason
        FROM (SELECT __line, unnest(ps) AS p FROM row_problems WHERE len(ps) > 0)
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE customers_out AS
        SELECT customer_id AS external_id, name, phone, email, address, gender_v AS gender,
               CAST(birth_year_v AS SMALLINT) AS birth_year, {_fit('province')} AS province,
               {_fit('city')} AS city, {_fit('channel')} AS channel,
               registered_at_v AS registered_at, consent_v AS marketing_consent
        FROM typed
        WHERE __line NOT IN (SELECT line FROM problems)
        QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY __line DESC) = 1
    """)
