"""The segment rule language: what it accepts and what each rule selects (on SQLite and PostgreSQL, checked against
the same rule written in Python), what it refuses and where it says the mistake is (English and Chinese), and a
fuzz test proving that no text makes the compiler do anything but build a filter or raise a kehu InvalidInput."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql, sqlite

from kehu.errors import InvalidInput
from kehu.segments.columns import COLUMN_LIST
from kehu.segments.rules import Places, RuleContext, RuleError, compile_rule, member_query
from kehu.segments.service import compile_for
from kehu.store import Classification, ClassificationSnapshot, Customer, get_engine, session_scope

DESIGN_EXAMPLE = "rfm_class = '重要价值客户' AND province IN ('广东','浙江') AND clv_12m > 500"
PLACES = Places(cities=("深圳", "杭州", "深圳市", "Shenzhen", " "),
                provinces=("广东", "浙江", "北京", "上海", "北京市"))
CONTEXT = RuleContext(as_of=date(2025, 6, 30), places=lambda: PLACES)


# --- compiling -------------------------------------------------------------------------------------------------


def _sql(rule: str, dialect: Any) -> tuple[str, dict[str, Any]]:  # noqa: ANN401
    compiled = member_query(compile_rule(rule, CONTEXT), 7).compile(dialect=dialect)
    return str(compiled), dict(compiled.params)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
def test_design_example_compiles_to_bound_parameters(dialect: Any) -> None:  # noqa: ANN401
    text, params = _sql(DESIGN_EXAMPLE, dialect)
    assert "重要价值客户" not in text and "广东" not in text and "500" not in text and "'" not in text
    values = list(params.values())
    assert "important_value" in values  # the Chinese class name became its code
    assert 50_000 in values  # yuan became cents
    provinces = next(v for v in values if isinstance(v, list))
    assert {"广东", "广东省", "浙江", "浙江省"} <= set(provinces)  # either spelling of a province
    assert text.count("classifications.snapshot_id") == 1


def test_aliases_and_chinese_names_read_the_same_columns() -> None:
    plain = compile_rule("rfm_class = 'important_value' AND province = '广东' AND lifecycle_stage = 'active'")
    alias = compile_rule("客户类别 = 'important value' AND 省份 = '广东省' AND stage = '活跃客户'")
    assert plain.columns == alias.columns == {"rfm_class", "province", "lifecycle_stage"}
    assert compile_rule("Clv > 1 AND CLV_365D < 2 AND clv_12m <> 3").columns == {"clv_12m"}
    assert compile_rule("discount_share > 0.5").needs_traits
    assert not compile_rule("rfm_class IS NULL").needs_customers


@pytest.mark.parametrize(
    ("rule", "code", "token"),
    [
        ("upper(province) = '广东'", "function", "upper"),
        ("province = '广东'; DROP TABLE customers", "semicolon", ";"),
        ("province IN (SELECT province FROM customers)", "subquery", "SELECT"),
        ("frequency > 1 UNION SELECT 1", "subquery", "UNION"),
        ("provnce = '广东'", "unknown_column", "provnce"),
        ("customers.province = '广东'", "qualified", "."),
        ("province = NULL", "null_compare", "NULL"),
        ("rfm_class = '重要客户'", "unknown_value", "'重要客户'"),
        ("frequency > 'many'", "wrong_value", "'many'"),
        ("province = 3", "wrong_value", "3"),
        ("province > '广东'", "operator", "province > '广东'"),
        ("marketing_consent IN (TRUE)", "operator", "marketing_consent IN (TRUE)"),
        ("clv_12m > 1e20", "bad_number", "1e20"),
        ("first_order_date > '2025-02-30'", "bad_date", "'2025-02-30'"),
        ("(frequency > 1", "paren", "1"),
        ("frequency > 1 AND", "incomplete", "AND"),
        ("frequency > 1 city", "unexpected", "city"),
        ("1 = 1", "needs_column", "1 = 1"),
        ("frequency + 1 > 2", "not_allowed", "frequency + 1"),
        ("province LIKE 'a' ESCAPE '!'", "escape", "ESCAPE"),
        ("city LIKE 'abc\\'", "like_escape", "'abc\\'"),
        ("city LIKE 3", "like_pattern", "3"),
        ("province = '广东", "unterminated", "'"),
        ("", "empty", ""),
        ("   ", "empty", ""),
        ("province", "not_condition", "province"),
        ('"广东" = province', "unknown_column", '"广东"'),
        ("rfm_class = rfm_group", "columns_mismatch", "rfm_class = rfm_group"),
        ("monetary = frequency", "columns_mismatch", "monetary = frequency"),
        ("frequency BETWEEN SYMMETRIC 1 AND 2", "symmetric", "frequency BETWEEN SYMMETRIC 1 AND 2"),
        ("frequency IN ()", "in_values", "frequency"),
        ("province = N'广东'", "token", "N'广东'"),
        ("frequency > ?", "token", "?"),
        ("frequency > :p", "token", ":"),
        ("frequency::text > 1", "token", "::"),
        ("frequency > 1 * 2", "token", "*"),
        ("province = 'a\x00'", "unreadable", "\x00"),
        ("(" * 40 + "frequency > 1" + ")" * 40, "too_deep", "("),
    ],
)
def test_mistakes_point_at_the_offending_text(rule: str, code: str, token: str) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule(rule)
    error = caught.value
    assert isinstance(error, InvalidInput) and error.status == 400
    assert error.code == code, (error.code, error.message("en"))
    assert error.token == token
    assert error.rule[error.start:error.end] == token
    english, chinese = error.message("en"), error.message("zh")
    assert english != chinese and english in str(error) and chinese in str(error)
    if token.strip():
        assert f"(at character {error.start + 1})" in english and f"第 {error.start + 1} 个字符" in chinese


def test_unknown_column_suggests_the_nearest_name() -> None:
    with pytest.raises(RuleError, match="did you mean province"):
        compile_rule("provnce = '广东'")
    with pytest.raises(RuleError, match="text values go in single quotes"):
        compile_rule('province = "广东"')
    with pytest.raises(RuleError, match=r"use one of: important value \(important_value\)"):
        compile_rule("rfm_class = 'vip'")


def test_too_long_a_rule_is_refused() -> None:
    with pytest.raises(RuleError, match="longer than 4000 characters"):
        compile_rule("frequency > 1 AND " * 300 + "frequency > 1")


def test_positions_for_the_browser_count_utf16_units() -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule("city = '😀' AND upper(city) = 'A'")
    data = caught.value.to_json("zh")
    assert data["token"] == "upper" and data["code"] == "function"
    assert data["start"] == 15 and data["js_start"] == 16  # the emoji is two UTF-16 units
    assert data["js_end"] - data["js_start"] == 5 and "upper" in data["message"]


def test_the_user_guide_lists_every_column_and_default_tag() -> None:
    from pathlib import Path

    from kehu.segments.tags import DEFAULT_TAGS

    guide = (Path(__file__).parents[2] / "docs" / "segments.md").read_text(encoding="utf-8")
    for spec in COLUMN_LIST:
        assert f"`{spec.name}`" in guide, spec.name
    for tag in DEFAULT_TAGS:
        assert f"`{tag.rule}`" in guide and tag.zh in guide, tag.code


# --- what rules select, on each store ----------------------------------------------------------------------------

RuleCase = tuple[str, Callable[[Customer, Classification], bool]]
CASES: list[RuleCase] = [
    (DESIGN_EXAMPLE, lambda c, k: k.rfm_class == "important_value" and c.province in ("广东", "浙江")
     and (k.clv_365d_cents or 0) > 50_000),
    ("rfm_class = '重要价值客户'", lambda c, k: k.rfm_class == "important_value"),
    ("rfm_class = 'important value' OR lifecycle_stage = '流失客户'",
     lambda c, k: k.rfm_class == "important_value" or k.lifecycle_stage == "churned"),
    ("province IN ('广东', '浙江省')", lambda c, k: c.province in ("广东", "浙江")),
    ("province NOT IN ('广东')", lambda c, k: c.province != "广东"),
    ("monetary > 500", lambda c, k: k.monetary_cents > 50_000),
    ("monetary >= 200.005", lambda c, k: k.monetary_cents >= 20_001),
    ("monetary <= 200.005", lambda c, k: k.monetary_cents <= 20_000),
    ("frequency > 2.5", lambda c, k: k.frequency >= 3),
    ("frequency = 2.5", lambda c, k: False),
    ("NOT frequency = 2.5", lambda c, k: True),
    ("frequency IN (2.5, 3)", lambda c, k: k.frequency == 3),
    ("frequency BETWEEN 1.5 AND 3", lambda c, k: 2 <= k.frequency <= 3),
    ("frequency NOT BETWEEN 1 AND 2", lambda c, k: k.frequency < 1 or k.frequency > 2),
    ("recency_days IS NULL", lambda c, k: k.recency_days is None),
    ("recency_days < 100 OR recency_days IS NULL", lambda c, k: k.recency_days is None or k.recency_days < 100),
    ("rfm_class IS NOT NULL AND NOT rfm_class = 'important_value'",
     lambda c, k: k.rfm_class is not None and k.rfm_class != "important_value"),
    ("city LIKE '深%'", lambda c, k: c.city.startswith("深")),
    ("city NOT LIKE '%州'", lambda c, k: not c.city.endswith("州")),
    ("stage LIKE '%RISK%'", lambda c, k: k.lifecycle_stage == "at_risk"),
    ("gender = '女'", lambda c, k: c.gender == "F"),
    ("marketing_consent", lambda c, k: c.marketing_consent is True),
    ("NOT marketing_consent", lambda c, k: c.marketing_consent is False),
    ("marketing_consent = FALSE", lambda c, k: c.marketing_consent is False),
    ("marketing_consent IS NOT TRUE", lambda c, k: c.marketing_consent is not True),
    ("age >= 40", lambda c, k: 2025 - c.birth_year >= 40),
    ("年龄 BETWEEN 30 AND 34", lambda c, k: 30 <= 2025 - c.birth_year <= 34),
    ("city_tier = '一线'", lambda c, k: c.city == "深圳"),
    ("city_tier <> 'tier1'", lambda c, k: c.city != "深圳"),
    ("NOT city_tier IN ('tier1', 'new_tier1')", lambda c, k: False),
    ("city_tier LIKE '%first%'", lambda c, k: True),
    ("first_order_date >= '2024-06-01'", lambda c, k: k.first_order_date is not None
     and k.first_order_date >= date(2024, 6, 1)),
    ("monetary > aov", lambda c, k: k.aov_cents is not None and k.monetary_cents > k.aov_cents),
    ("r_score >= f_score", lambda c, k: k.r_score is not None and k.r_score >= k.f_score),
    ("TRUE", lambda c, k: True),
    ("FALSE OR frequency = 3", lambda c, k: k.frequency == 3),
    ("r_score IN (1, 2) AND (province = '北京' OR province = '上海')",
     lambda c, k: k.r_score in (1, 2) and c.province in ("北京", "上海")),
    ("birth_year > 99999 OR m_score > 40000", lambda c, k: False),
    ("clv_12m > 0", lambda c, k: False),
    ("source = 'generic' AND channel LIKE 'TM%'", lambda c, k: True),
    ("客户类别 = '一般挽留客户' AND 省份 IN ('上海市')", lambda c, k: k.rfm_class == "general_winback"
     and c.province == "上海"),
]


def test_each_rule_selects_what_python_selects(seg) -> None:  # type: ignore[no-untyped-def]
    rows = seg.rows()
    total = len(rows)
    with session_scope(seg.settings.store_url) as session:
        snapshot = session.get(ClassificationSnapshot, seg.store.snapshot_id)
        for rule, wanted in CASES:
            found = set(session.scalars(member_query(compile_for(session, rule, snapshot), snapshot.id)))
            expected = {c.id for c, k in rows if wanted(c, k)}
            assert found == expected, rule

        # NOT is the complement where the values are known.
        def count(rule: str) -> int:
            query = member_query(compile_for(session, rule, snapshot), snapshot.id).subquery()
            return int(session.scalar(select(func.count()).select_from(query)) or 0)

        for rule in ("city_tier = 'tier1'", "city_tier LIKE '%new%'", "province = '广东'", "frequency > 1"):
            assert count(rule) + count(f"NOT ({rule})") == total, rule
        assert count("rfm_class = 'important_value'") + count("NOT rfm_class = 'important_value'") \
            + count("rfm_class IS NULL") == total


# --- fuzzing -----------------------------------------------------------------------------------------------------

NAMES = [c.name for c in COLUMN_LIST] + ["省份", "stage", "clv", "provnce", "name", "phone", "id", "customers"]
WORDS = [
    "AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "ILIKE", "IS", "NULL", "TRUE", "FALSE", "SELECT", "FROM", "WHERE",
    "DROP", "TABLE", "UNION", "ESCAPE", "CASE", "WHEN", "THEN", "END", "EXISTS", "CAST", "AS", "ORDER", "BY",
    "LIMIT", "(", ")", ",", ";", ".", "*", "+", "-", "/", "%", "||", "::", "=", "<>", "!=", "<", "<=", ">", ">=",
    "<=>", "?", ":x", "@x", "$1", "--", "/*", "*/", "'", '"', "`", "\\", "upper(", "sleep(1)", "pg_sleep(1)",
    "'广东'", "'重要价值客户'", "'important value'", "'tier1'", "'%州'", "'2024-01-01'", "'2024-13-40'", "'a\\'",
    "''", "'it''s'", "0", "1", "-1", "2.5", "1e3", "1e400", "99999999999999999999", "0x1F", "N'x'", "x'00'",
    "$$x$$", "{fn now()}", "\n", "\t",
]
VALUES = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.decimals(min_value=-10**6, max_value=10**6, places=3, allow_nan=False).map(str),
    st.sampled_from(["'广东'", "'浙江省'", "'重要价值客户'", "'at risk'", "'女'", "'tier1'", "'一线'", "'2024-06-01'",
                     "'%州'", "'深%'", "TRUE", "FALSE", "NULL", "'x'", "''"]),
)
COLUMNS = st.sampled_from([c.name for c in COLUMN_LIST] + ["省份", "年龄", "stage", "clv"])


def _atoms() -> st.SearchStrategy[str]:
    comparison = st.builds(lambda c, op, v: f"{c} {op} {v}", COLUMNS, st.sampled_from(["=", "<>", "<", "<=", ">",
                                                                                         ">="]), VALUES)
    in_list = st.builds(lambda c, n, vs: f"{c} {n}IN ({', '.join(vs)})", COLUMNS, st.sampled_from(["", "NOT "]),
                        st.lists(VALUES, min_size=1, max_size=4))
    between = st.builds(lambda c, a, b: f"{c} BETWEEN {a} AND {b}", COLUMNS, VALUES, VALUES)
    like = st.builds(lambda c, v: f"{c} LIKE {v}", COLUMNS, VALUES)
    null = st.builds(lambda c, n: f"{c} IS {n}NULL", COLUMNS, st.sampled_from(["", "NOT "]))
    column_pair = st.builds(lambda a, b: f"{a} >= {b}", COLUMNS, COLUMNS)
    return st.one_of(comparison, in_list, between, like, null, column_pair, COLUMNS)


WELL_FORMED = st.recursive(
    _atoms(),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
        st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
        st.builds(lambda a: f"NOT ({a})", inner),
    ),
    max_leaves=6,
)
SOUP = st.lists(st.one_of(st.sampled_from(NAMES), st.sampled_from(WORDS), VALUES), max_size=14).map(" ".join)

#: What a rule's query may make SQLite do: read, and call these functions (LIKE is a function in SQLite).
_READ_ONLY = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ}
_FUNCTIONS = {"count", "lower", "like", "coalesce"}


@contextmanager
def _read_only(engine: Any) -> Iterator[Any]:  # noqa: ANN401
    """A connection on which SQLite refuses anything but reading (its authorizer), recording every statement."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        if action in _READ_ONLY or (action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _FUNCTIONS):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        raw.set_authorizer(authorize)
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield conn, statements
        finally:
            event.remove(engine, "before_cursor_execute", record)
            raw.set_authorizer(None)
            conn.rollback()


def _check(rule: str, conn: Any, statements: list[str], snapshot_id: int) -> None:  # noqa: ANN401
    """Compile ``rule``; when it compiles, count its customers: only a SELECT runs, with no value inlined."""
    try:
        compiled = compile_rule(rule, CONTEXT)
    except InvalidInput:
        return
    statements.clear()
    query = member_query(compiled, snapshot_id).subquery()
    n = conn.execute(select(func.count()).select_from(query)).scalar_one()
    assert 0 <= n <= 60
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    assert "'" not in statements[0].replace("ESCAPE '\\'", ""), statements[0]  # values are bound, never inlined


FUZZ = hsettings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


def test_fuzz_compiler_only_filters_or_raises_invalid_input(seg_sqlite) -> None:  # type: ignore[no-untyped-def]
    engine = get_engine(seg_sqlite.settings.store_url)
    sid = seg_sqlite.store.snapshot_id
    with _read_only(engine) as (conn, statements):

        @FUZZ
        @given(st.one_of(st.text(max_size=120), SOUP, WELL_FORMED))
        def run(rule: str) -> None:
            _check(rule, conn, statements, sid)

        run()
    with session_scope(seg_sqlite.settings.store_url) as session:  # nothing was changed
        assert session.scalar(select(func.count()).select_from(Customer)) == 60
        assert session.scalar(select(func.count()).select_from(Classification)) == 120


@pytest.mark.pg
def test_fuzz_well_formed_rules_run_on_postgresql(seg_pg) -> None:  # type: ignore[no-untyped-def]
    engine = get_engine(seg_pg.settings.store_url)
    sid = seg_pg.store.snapshot_id
    with engine.connect() as conn:

        @hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.one_of(WELL_FORMED, SOUP))
        def run(rule: str) -> None:
            try:
                compiled = compile_rule(rule, CONTEXT)
            except InvalidInput:
                return
            query = member_query(compiled, sid).subquery()
            assert 0 <= conn.execute(select(func.count()).select_from(query)).scalar_one() <= 60

        run()
        conn.rollback()
