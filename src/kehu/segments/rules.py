"""The segment rule language: a boolean condition over the customer feature table, read with sqlglot and compiled
to a SQLAlchemy filter with bound parameters.

A rule is one condition such as ``rfm_class = '重要价值客户' AND province IN ('广东','浙江') AND clv_12m > 500``:

* column names from :data:`kehu.segments.columns.COLUMNS` (or their aliases), never a table prefix;
* literals: ``'text'`` (single quotes, ``''`` for a quote inside), numbers (``500``, ``0.5``, ``-3``), ``TRUE``,
  ``FALSE``, ``NULL`` (only after ``IS``), dates as ``'2025-06-30'``;
* comparisons ``= <> != < <= > >=``, ``[NOT] IN (…)``, ``[NOT] BETWEEN … AND …``, ``[NOT] LIKE '…'``
  (``%`` any text, ``_`` one character, ``\\`` escapes them; case-insensitive on every store), ``IS [NOT] NULL``,
  ``AND``, ``OR``, ``NOT`` and parentheses; a yes/no column alone (``marketing_consent``) is a condition too.

Anything else (functions, subqueries, ``;``, arithmetic, unknown columns, a value of the wrong type) is refused with
a :class:`RuleError`, an :class:`~kehu.errors.InvalidInput` that names the offending text and its position, in
English and Chinese. The compiler never renders user text into SQL: every value becomes a bound parameter of a
SQLAlchemy expression, and the expression is only ever used as the ``WHERE`` of the fixed feature query
(:func:`member_query`).

Comparisons keep SQL's meaning of NULL: a customer whose province is unknown is neither ``= '广东'`` nor
``<> '广东'``; ``IS NULL`` finds them.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlglot
from sqlalchemy import BigInteger, ColumnElement, Integer, Select, and_, false, func, literal, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement as _Col
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokens import Token, Tokenizer, TokenType

from kehu.analytics.geo import CITY_TIERS, city_tier
from kehu.errors import InvalidInput
from kehu.segments.columns import NAMES, ColumnSpec, find_column, spellings, stored_values
from kehu.store import Classification, Customer, SegmentTrait

#: Longest rule accepted (characters), most tokens, deepest nesting of parentheses.
MAX_RULE_CHARS = 4000
MAX_TOKENS = 1000
MAX_DEPTH = 30
#: Largest number accepted in a rule (its absolute value).
MAX_NUMBER = Decimal(10) ** 15

_ALLOWED_TOKENS = frozenset({
    TokenType.VAR, TokenType.IDENTIFIER, TokenType.STRING, TokenType.NUMBER, TokenType.L_PAREN, TokenType.R_PAREN,
    TokenType.COMMA, TokenType.EQ, TokenType.NEQ, TokenType.GT, TokenType.GTE, TokenType.LT, TokenType.LTE,
    TokenType.AND, TokenType.OR, TokenType.NOT, TokenType.IN, TokenType.BETWEEN, TokenType.LIKE, TokenType.ILIKE,
    TokenType.IS, TokenType.NULL, TokenType.TRUE, TokenType.FALSE, TokenType.DASH, TokenType.PLUS,
})
_COMPARISONS: dict[type[exp.Expression], str] = {
    exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
}
_FLIPPED = {"=": "=", "<>": "<>", ">": "<", ">=": "<=", "<": ">", "<=": ">="}

#: Error codes → (English, Chinese) templates; ``{token}`` is the offending text, others as named.
MESSAGES: dict[str, tuple[str, str]] = {
    "empty": ("the rule is empty; write a condition such as rfm_class = '重要价值客户'",
              "规则为空；请写一个条件，例如 rfm_class = '重要价值客户'"),
    "too_long": ("the rule is longer than {limit} characters", "规则超过 {limit} 个字符"),
    "too_deep": ("too many nested parentheses (at most {limit})", "括号嵌套过深（最多 {limit} 层）"),
    "unterminated": ("a quote {token} is not closed", "引号 {token} 没有闭合"),
    "unreadable": ("cannot read {token} here", "无法识别此处的 {token}"),
    "semicolon": ("a rule is one condition: remove ';'", "规则只能是一个条件：请删除 ';'"),
    "function": ("functions such as {name}(…) are not allowed; compare a column with a value",
                 "不允许使用函数 {name}(…)；请用列与值比较"),
    "qualified": ("'.' is not allowed: columns have no table prefix, and decimals need a leading digit (0.5)",
                  "不允许使用 '.'：列名前不加表名，小数请写成 0.5 这样的形式"),
    "subquery": ("subqueries and SQL statements ({token}) are not allowed", "不允许子查询或 SQL 语句（{token}）"),
    "token": ("{token} is not part of the rule language; use columns, values, comparisons, AND/OR/NOT, IN, "
              "BETWEEN, LIKE and IS NULL",
              "{token} 不属于规则语言；可用列名、值、比较、AND/OR/NOT、IN、BETWEEN、LIKE 和 IS NULL"),
    "incomplete": ("the condition is incomplete at {token}", "条件在 {token} 处不完整"),
    "paren": ("a ')' is missing after {token}", "{token} 之后缺少 ')'"),
    "unexpected": ("unexpected {token}; join conditions with AND or OR",
                   "此处不应出现 {token}；多个条件请用 AND 或 OR 连接"),
    "unknown_column": ("unknown column {token}{hint}", "未知的列 {token}{hint_zh}"),
    "not_allowed": ("{token} is not allowed in a rule ({what})", "规则中不允许 {token}（{what}）"),
    "not_condition": ("{token} is not a condition; compare it, e.g. {token} = …",
                      "{token} 不是条件；请进行比较，例如 {token} = …"),
    "needs_column": ("compare a column with a value: {token} has no column", "请用列与值比较：{token} 中没有列"),
    "null_compare": ("use IS NULL or IS NOT NULL instead of comparing with NULL",
                     "与 NULL 比较请用 IS NULL 或 IS NOT NULL"),
    "wrong_value": ("{column} takes {expected}, not {token}", "{column} 的值应为{expected_zh}，而不是 {token}"),
    "bad_number": ("{token} is not a number this rule can use (at most 15 digits before the point)",
                   "{token} 不是可用的数字（整数部分最多 15 位）"),
    "bad_date": ("{token} is not a date; write it as 'YYYY-MM-DD'", "{token} 不是日期；请写成 'YYYY-MM-DD'"),
    "unknown_value": ("{column} has no value {token}; use one of: {choices}",
                      "{column} 没有取值 {token}；可用：{choices_zh}"),
    "operator": ("{column} ({kind}) cannot be used with {op}; use {allowed}",
                 "{column}（{kind_zh}）不能用 {op}；可用 {allowed}"),
    "columns_mismatch": ("{token} compares columns of different kinds", "{token} 比较了不同类型的列"),
    "in_values": ("IN needs a list of values such as ('广东', '浙江')", "IN 后面需要值列表，例如 ('广东', '浙江')"),
    "like_escape": ("a LIKE pattern cannot end with a single \\; write \\\\ for a backslash",
                    "LIKE 模式不能以单个 \\ 结尾；反斜杠本身请写成 \\\\"),
    "like_pattern": ("LIKE needs a text pattern in single quotes, such as '%手机%'",
                     "LIKE 后面需要用单引号括起的文本模式，例如 '%手机%'"),
    "escape": ("ESCAPE is not supported; put \\ before a % or _ that is meant literally",
               "不支持 ESCAPE；如需匹配 % 或 _ 本身，请在前面加 \\"),
    "symmetric": ("BETWEEN SYMMETRIC is not supported; put the smaller value first",
                  "不支持 BETWEEN SYMMETRIC；请把较小的值写在前面"),
}
_KIND_NAMES: dict[str, tuple[str, str]] = {
    "int": ("a whole number", "整数"), "money": ("an amount in yuan", "金额（元）"), "float": ("a number", "数字"),
    "text": ("text in single quotes", "单引号括起的文本"), "enum": ("a name in single quotes", "单引号括起的名称"),
    "bool": ("TRUE or FALSE", "TRUE 或 FALSE"), "date": ("a date 'YYYY-MM-DD'", "日期 'YYYY-MM-DD'"),
}
_OPERATORS: dict[str, tuple[str, ...]] = {
    "text": ("=", "<>", "IN", "LIKE", "IS NULL"), "enum": ("=", "<>", "IN", "LIKE", "IS NULL"),
    "bool": ("=", "<>", "IS"), "int": ("= <> < <= > >=", "IN", "BETWEEN", "IS NULL"),
    "money": ("= <> < <= > >=", "IN", "BETWEEN", "IS NULL"), "float": ("= <> < <= > >=", "IN", "BETWEEN", "IS NULL"),
    "date": ("= <> < <= > >=", "IN", "BETWEEN", "IS NULL"),
}
#: Provinces whose short and full names differ by more than a suffix.
_PROVINCE_FULL = {
    "广西": "广西壮族自治区", "内蒙古": "内蒙古自治区", "宁夏": "宁夏回族自治区", "新疆": "新疆维吾尔自治区",
    "西藏": "西藏自治区", "香港": "香港特别行政区", "澳门": "澳门特别行政区",
}


class RuleError(InvalidInput):
    """A rule that cannot be used, with where: ``start``/``end`` are character offsets (``end`` exclusive) into
    the rule, ``token`` the offending text, ``code`` a key of :data:`MESSAGES`.

    ``str()`` gives the English and the Chinese message; :meth:`message` one language.
    """

    def __init__(self, code: str, rule: str, start: int, end: int, **values: Any) -> None:
        self.code = code
        self.rule = rule
        self.start = max(0, min(start, len(rule)))
        self.end = max(self.start, min(end, len(rule)))
        self.token = rule[self.start:self.end]
        self.values = values
        super().__init__(f"{self.message('en')} | {self.message('zh')}")

    def message(self, lang: str = "en") -> str:
        """The message in ``lang`` (``en`` or ``zh``), with the position (1-based character) when it has one."""
        en, zh = MESSAGES[self.code]
        shown = _shown(self.token) if self.token else ("the end" if lang == "en" else "末尾")
        values = {"token": shown, **self.values}
        text = (zh if lang == "zh" else en).format(**values)
        if not self.rule.strip() or self.code in ("too_long",):
            return text
        column = self.start + 1
        return f"{text}（第 {column} 个字符）" if lang == "zh" else f"{text} (at character {column})"

    def to_json(self, lang: str = "en") -> dict[str, Any]:
        """The error for the builder page: message, code, offending text and its position both in characters and
        in UTF-16 code units (what a browser's text box counts)."""
        return {
            "code": self.code,
            "message": self.message(lang),
            "token": self.token,
            "start": self.start,
            "end": self.end,
            "js_start": _utf16_len(self.rule[:self.start]),
            "js_end": _utf16_len(self.rule[:self.end]),
        }


def _shown(token: str) -> str:
    """The offending text for a message: as typed when it is quoted already, else in quotes; escaped when it has
    characters that do not print."""
    if not token.isprintable():
        return repr(token)
    return token if token[:1] in "'\"" and len(token) > 1 else f"'{token}'"


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Places:
    """The distinct non-empty city and province values of the store, for ``city_tier``."""

    cities: Sequence[str] = ()
    provinces: Sequence[str] = ()


@dataclass(frozen=True)
class RuleContext:
    """What compiling needs beyond the rule: the snapshot's date (for ``age``) and, lazily, the store's places
    (for ``city_tier``)."""

    as_of: date = field(default_factory=date.today)
    places: Callable[[], Places] | None = None


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to filter the feature query: ``where`` (SQLAlchemy, bound parameters only), the canonical
    column names it reads, and the tables the feature query must join for it."""

    rule: str
    where: ColumnElement[bool]
    columns: frozenset[str]
    needs_customers: bool
    needs_traits: bool


# --- reading ---------------------------------------------------------------------------------------------------


def _unterminated(rule: str) -> tuple[int, int] | None:
    """Where an unclosed quote starts (``''`` inside a quoted text is a quote), else ``None``."""
    quote, start, i = "", 0, 0
    while i < len(rule):
        ch = rule[i]
        if not quote and ch in "'\"":
            quote, start = ch, i
        elif quote and ch == quote:
            if i + 1 < len(rule) and rule[i + 1] == quote:
                i += 1
            else:
                quote = ""
        i += 1
    return (start, start + 1) if quote else None


def tokens(rule: str) -> list[Token]:
    """The rule's tokens (sqlglot's tokenizer), after checking that each may appear in a rule.

    Raises :class:`RuleError` for an unreadable text, an unclosed quote, a ``;``, a keyword or symbol of SQL that
    is not in the language, a function call, or nesting deeper than :data:`MAX_DEPTH`.
    """
    if len(rule) > MAX_RULE_CHARS:
        raise RuleError("too_long", rule, 0, 0, limit=MAX_RULE_CHARS)
    for i, ch in enumerate(rule):  # no store takes NUL in text, and a lone surrogate is not text
        if ch == "\x00" or 0xD800 <= ord(ch) <= 0xDFFF:
            raise RuleError("unreadable", rule, i, i + 1)
    try:
        found = Tokenizer().tokenize(rule)
    except (SqlglotError, ValueError, IndexError, KeyError, TypeError):
        where = _unterminated(rule)
        if where:
            raise RuleError("unterminated", rule, *where) from None
        raise RuleError("unreadable", rule, 0, len(rule)) from None
    if len(found) > MAX_TOKENS:
        raise RuleError("too_long", rule, 0, 0, limit=MAX_RULE_CHARS)
    depth = 0
    for i, token in enumerate(found):
        start, end = token.start, token.end + 1
        kind = token.token_type
        if kind == TokenType.SEMICOLON:
            raise RuleError("semicolon", rule, start, end)
        if kind == TokenType.ESCAPE:
            raise RuleError("escape", rule, start, end)
        if kind in (TokenType.VAR, TokenType.IDENTIFIER) and i + 1 < len(found) \
                and found[i + 1].token_type == TokenType.L_PAREN:
            raise RuleError("function", rule, start, end, name=rule[start:end])
        if kind == TokenType.DOT:
            raise RuleError("qualified", rule, start, end)
        if kind in (TokenType.SELECT, TokenType.WITH, TokenType.FROM, TokenType.EXISTS, TokenType.UNION,
                    TokenType.INSERT, TokenType.UPDATE, TokenType.DELETE, TokenType.DROP, TokenType.CREATE,
                    TokenType.ALTER, TokenType.VALUES, TokenType.TABLE):
            raise RuleError("subquery", rule, start, end)
        if kind not in _ALLOWED_TOKENS:
            if _is_word(rule[start:end]) and i + 1 < len(found) and found[i + 1].token_type == TokenType.L_PAREN:
                raise RuleError("function", rule, start, end, name=rule[start:end])
            raise RuleError("token", rule, start, end)
        if kind == TokenType.L_PAREN:
            depth += 1
            if depth > MAX_DEPTH:
                raise RuleError("too_deep", rule, start, end, limit=MAX_DEPTH)
        elif kind == TokenType.R_PAREN:
            depth -= 1
    return found


def _is_word(text: str) -> bool:
    return bool(re.fullmatch(r"\w+", text))


def _parse_error(rule: str, error: ParseError) -> RuleError:
    """A :class:`RuleError` at the token sqlglot stopped at."""
    detail = error.errors[0] if error.errors else {}
    line, col = int(detail.get("line") or 1), int(detail.get("col") or 0)
    highlight = str(detail.get("highlight") or "")
    offset = sum(len(text) + 1 for text in rule.split("\n")[: max(line - 1, 0)])
    end = offset + col
    start = max(end - len(highlight), 0)
    description = str(detail.get("description") or "")
    if description.startswith("Expecting )"):
        code = "paren"
    elif description.startswith("Required keyword") or start >= len(rule.rstrip()):
        code = "incomplete"
    else:
        code = "unexpected"
    return RuleError(code, rule, start, end)


def parse(rule: str) -> exp.Expression:
    """The syntax tree of ``rule`` (sqlglot), checked token by token (:func:`tokens`); :class:`RuleError` when it
    is empty or not one expression."""
    if not rule.strip():
        raise RuleError("empty", rule, 0, 0)
    found = tokens(rule)
    try:
        trees = sqlglot.parse(rule)
    except ParseError as error:
        raise _parse_error(rule, error) from None
    except (SqlglotError, ValueError, IndexError, KeyError, TypeError, AttributeError):
        raise RuleError("unreadable", rule, 0, len(rule)) from None
    except RecursionError:
        raise RuleError("too_deep", rule, 0, 0, limit=MAX_DEPTH) from None
    trees = [t for t in trees if t is not None]
    if not trees:
        raise RuleError("empty", rule, 0, 0)
    tree = trees[0]
    if not isinstance(tree, exp.Expression):  # pragma: no cover — sqlglot's parser gives expressions
        raise RuleError("unreadable", rule, 0, len(rule))
    _attach_positions(tree, found)
    return tree


# --- positions -------------------------------------------------------------------------------------------------

_POS = "_kehu_pos"


def _attach_positions(tree: exp.Expression, found: list[Token]) -> None:
    """Give TRUE/FALSE/NULL nodes (which sqlglot leaves without ``meta``) the positions of their tokens: they
    appear in the tree, walked depth first, in the order of the text."""
    words = [t for t in found if t.token_type in (TokenType.TRUE, TokenType.FALSE, TokenType.NULL)]
    nodes = [n for n in tree.walk(bfs=False) if isinstance(n, exp.Boolean | exp.Null)]
    if len(words) == len(nodes):
        for node, token in zip(nodes, words, strict=True):
            node.meta[_POS] = (token.start, token.end + 1)


def _span(node: exp.Expression) -> tuple[int, int] | None:
    """(start, end) in the rule of everything under ``node`` that has a known position."""
    starts, ends = [], []
    for n in node.walk(bfs=False):
        meta = n.meta if n._meta is not None else {}  # noqa: SLF001 — reading meta without creating it
        if _POS in meta:
            starts.append(meta[_POS][0])
            ends.append(meta[_POS][1])
        elif "start" in meta and "end" in meta:
            starts.append(int(meta["start"]))
            ends.append(int(meta["end"]) + 1)
    return (min(starts), max(ends)) if starts else None


# --- compiling -------------------------------------------------------------------------------------------------


@dataclass
class _Column:
    spec: ColumnSpec
    node: exp.Expression


@dataclass
class _Value:
    value: Any  # str | Decimal | bool | None
    node: exp.Expression


def _like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (``%``, ``_``, ``\\`` escapes) as a case-insensitive regular expression over the whole text."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _never(expr: ColumnElement[Any]) -> ColumnElement[bool]:
    """A condition false for every known value and NULL for NULL, like an equality that cannot hold."""
    return expr != expr


def _place_variants(spec: ColumnSpec, value: str) -> list[str]:
    """``广东`` → ``广东``, ``广东省``, ``广东市``; ``深圳市`` → ``深圳``, ``深圳市``: how the same province or city
    may be written in an export."""
    text = value.strip()
    base = text
    for suffix in ("省", "市"):
        if len(base) > 2 and base.endswith(suffix):
            base = base[:-1]
    variants = [base, base + "市"] if spec.name == "city" else [base, base + "省", base + "市"]
    if spec.name == "province":
        for short, full in _PROVINCE_FULL.items():
            if base in (short, full):
                variants += [short, full]
    if text not in variants:
        variants.append(text)
    return list(dict.fromkeys(variants))


class _Compiler:
    def __init__(self, rule: str, context: RuleContext) -> None:
        self.rule = rule
        self.context = context
        self.columns: set[str] = set()
        self._places: Places | None = None

    # errors

    def error(self, code: str, node: exp.Expression | None, **values: Any) -> RuleError:
        span = _span(node) if node is not None else None
        start, end = span or (0, len(self.rule))
        # Close the parentheses the offending text opened (``x IN (1, 2)``: the ``)`` has no position of its own).
        while self.rule[start:end].count("(") > self.rule[start:end].count(")"):
            close = self.rule.find(")", end)
            if close < 0:
                break
            end = close + 1
        return RuleError(code, self.rule, start, end, **values)

    # predicates

    def predicate(self, node: exp.Expression) -> ColumnElement[bool]:
        if isinstance(node, exp.Paren):
            return self.predicate(node.this)
        if isinstance(node, exp.And):
            return and_(self.predicate(node.this), self.predicate(node.expression))
        if isinstance(node, exp.Or):
            return or_(self.predicate(node.this), self.predicate(node.expression))
        if isinstance(node, exp.Not):
            return not_(self.predicate(node.this))
        if isinstance(node, exp.Boolean):
            return true() if node.this else false()
        if isinstance(node, exp.Column):
            column = self.column(node)
            if column.spec.kind != "bool":
                raise self.error("not_condition", node)
            return self.expr(column.spec) == True  # noqa: E712 — SQL's = TRUE, NULL stays unknown
        if type(node) in _COMPARISONS:
            return self.comparison(_COMPARISONS[type(node)], node)
        if isinstance(node, exp.In):
            return self.in_list(node)
        if isinstance(node, exp.Between):
            return self.between(node)
        if isinstance(node, exp.Like | exp.ILike):
            return self.like(node)
        if isinstance(node, exp.Is):
            return self.is_(node)
        if isinstance(node, exp.Escape):
            raise self.error("escape", node)
        if isinstance(node, exp.Alias):
            raise self.error("unexpected", node.args.get("alias") or node)
        if isinstance(node, exp.Literal | exp.Null | exp.Neg):
            raise self.error("not_condition", node)
        raise self.error("not_allowed", node, what=type(node).__name__)

    # operands

    def column(self, node: exp.Expression) -> _Column:
        if not isinstance(node, exp.Column) or node.args.get("table") is not None or not isinstance(
                node.this, exp.Identifier):
            raise self.error("not_allowed", node, what=type(node).__name__)
        name = str(node.this.this)
        spec = find_column(name)
        if spec is None:
            close = difflib.get_close_matches(name.lower(), list(NAMES), n=1, cutoff=0.6)
            hint = hint_zh = ""
            if close:
                hint, hint_zh = f"; did you mean {NAMES[close[0]].name}?", f"；是否想写 {NAMES[close[0]].name}？"
            elif node.this.args.get("quoted"):
                hint, hint_zh = "; text values go in single quotes", "；文本值请用单引号"
            raise self.error("unknown_column", node, hint=hint, hint_zh=hint_zh)
        self.columns.add(spec.name)
        return _Column(spec, node)

    def operand(self, node: exp.Expression) -> _Column | _Value:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Column):
            return self.column(node)
        return self.value(node)

    def value(self, node: exp.Expression) -> _Value:
        inner = node
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.Literal):
            if inner.is_string:
                return _Value(str(inner.this), node)
            return _Value(self.number(str(inner.this), node), node)
        if isinstance(inner, exp.Neg):
            number = inner.this
            while isinstance(number, exp.Paren):
                number = number.this
            if isinstance(number, exp.Literal) and not number.is_string:
                return _Value(-self.number(str(number.this), node), node)
            raise self.error("not_allowed", node, what="-")
        if isinstance(inner, exp.Boolean):
            return _Value(bool(inner.this), node)
        if isinstance(inner, exp.Null):
            return _Value(None, node)
        raise self.error("not_allowed", node, what=type(inner).__name__)

    def number(self, text: str, node: exp.Expression) -> Decimal:
        try:
            value = Decimal(text)
        except (InvalidOperation, ValueError):
            raise self.error("bad_number", node) from None
        if not value.is_finite() or abs(value) > MAX_NUMBER or value.as_tuple().exponent < -30:  # type: ignore[operator]
            raise self.error("bad_number", node)
        return value

    # column expressions

    def expr(self, spec: ColumnSpec) -> ColumnElement[Any]:
        if spec.source == "classification":
            return getattr(Classification, spec.column)
        if spec.source == "customer":
            return getattr(Customer, spec.column)
        if spec.source == "trait":
            return getattr(SegmentTrait, spec.column)
        if spec.name == "age":
            return literal(self.context.as_of.year, Integer) - Customer.birth_year
        raise self.error("not_allowed", None, what=spec.name)  # pragma: no cover — city_tier is compiled apart

    def places(self) -> Places:
        if self._places is None:
            self._places = self.context.places() if self.context.places is not None else Places()
        return self._places

    def tier_is(self, codes: Sequence[str]) -> ColumnElement[bool]:
        """``city_tier IN codes`` as a condition on the stored city and province (never NULL): the tier of each
        distinct city of the store is looked up with :func:`kehu.analytics.geo.city_tier`; an empty city takes
        the province's (a municipality is its own city)."""
        places = self.places()
        wanted = set(codes)
        cities = [c for c in places.cities if c.strip() and city_tier(c) in wanted]
        provinces = [p for p in dict.fromkeys([*places.provinces, ""]) if city_tier(None, p) in wanted]
        # COALESCE keeps every part TRUE or FALSE, never NULL, so NOT city_tier = … is the complement.
        city = func.coalesce(Customer.city, "")
        province = func.coalesce(Customer.province, "")
        blank = list(dict.fromkeys(["", *(c for c in places.cities if not c.strip())]))
        parts: list[ColumnElement[bool]] = []
        if cities:
            parts.append(city.in_(cities))
        if provinces:
            parts.append(and_(city.in_(blank), province.in_(provinces)))
        if not parts:
            return false()
        return or_(*parts) if len(parts) > 1 else parts[0]

    # conversions

    def coerce(self, column: _Column, value: _Value) -> Any:
        """``value`` as the store holds ``column``'s values: cents for money, a code for a vocabulary, a date."""
        spec, raw = column.spec, value.value
        if raw is None:
            raise self.error("null_compare", value.node)
        kind = spec.kind
        expected, expected_zh = _KIND_NAMES[kind]
        bad = self.error("wrong_value", value.node, column=spec.name, expected=expected, expected_zh=expected_zh)
        if kind in ("int", "money", "float"):
            if not isinstance(raw, Decimal):
                raise bad
            return raw * 100 if kind == "money" else raw
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, Decimal) and raw in (0, 1):
                return bool(raw)
            raise bad
        if not isinstance(raw, str):
            raise bad
        if kind == "date":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):
                raise self.error("bad_date", value.node)
            try:
                return date.fromisoformat(raw.strip())
            except ValueError:
                raise self.error("bad_date", value.node) from None
        if kind == "enum":
            code = spellings(spec).get(raw.strip().lower())
            if code is None:
                choices = ", ".join(f"{names[1]} ({code})" for code, names in spec.vocabulary.items())
                choices_zh = "、".join(names[0] for names in spec.vocabulary.values())
                raise self.error("unknown_value", value.node, column=spec.name, choices=choices,
                                 choices_zh=choices_zh)
            return code
        return raw

    def operator_error(self, column: _Column, op: str, node: exp.Expression) -> RuleError:
        kind = column.spec.kind
        return self.error("operator", node, column=column.spec.name, kind=_KIND_NAMES[kind][0],
                          kind_zh=_KIND_NAMES[kind][1], op=op, allowed=", ".join(_OPERATORS[kind]))

    def equals(self, column: _Column, value: Any) -> ColumnElement[bool]:
        """``column = value`` for a value already coerced (a list of them means IN)."""
        spec = column.spec
        values = value if isinstance(value, list) else [value]
        if spec.name == "city_tier":
            return self.tier_is(values)
        col = self.expr(spec)
        if spec.kind in ("int", "money"):
            # Bound as BIGINT: a value beyond a SMALLINT column's range is a comparison, not a store error.
            whole = [literal(int(v), BigInteger) for v in values if v == v.to_integral_value()]
            if not whole:
                return _never(col)
            return col == whole[0] if len(whole) == 1 else col.in_(whole)
        if spec.kind == "float":
            floats = [float(v) for v in values]
            return col == floats[0] if len(floats) == 1 else col.in_(floats)
        if spec.kind == "text" and spec.name in ("province", "city"):
            values = [variant for v in values for variant in _place_variants(spec, v)]
        if spec.kind == "enum":
            values = stored_values(spec, values)
        values = list(dict.fromkeys(values))
        return col == values[0] if len(values) == 1 else col.in_(values)

    def ordered(self, column: _Column, op: str, value: Any) -> ColumnElement[bool]:
        """``column op value`` for ``< <= > >=``; whole-number columns compare with the nearest whole number on
        the right side (``frequency > 2.5`` is ``frequency >= 3``), so no fraction meets an integer column."""
        col = self.expr(column.spec)
        if column.spec.kind in ("int", "money"):
            if op in (">", "<=") and value != value.to_integral_value():
                value = math.floor(value)
            elif op in ("<", ">=") and value != value.to_integral_value():
                value = math.ceil(value)
            value = literal(int(value), BigInteger)
        elif column.spec.kind == "float":
            value = float(value)
        return {">": col > value, ">=": col >= value, "<": col < value, "<=": col <= value}[op]

    # operators

    def comparison(self, op: str, node: exp.Expression) -> ColumnElement[bool]:
        left, right = self.operand(node.this), self.operand(node.expression)
        if isinstance(left, _Value) and isinstance(right, _Column):
            left, right, op = right, left, _FLIPPED[op]
        if isinstance(left, _Value):
            if left.value is None or (isinstance(right, _Value) and right.value is None):
                raise self.error("null_compare", node)
            raise self.error("needs_column", node)
        if isinstance(right, _Column):
            return self.column_pair(op, left, right, node)
        kind = left.spec.kind
        if op not in ("=", "<>") and kind in ("text", "enum", "bool"):
            raise self.operator_error(left, op, node)
        value = self.coerce(left, right)
        if op == "=":
            return self.equals(left, value)
        if op == "<>":
            return not_(self.equals(left, value))
        return self.ordered(left, op, value)

    def column_pair(self, op: str, left: _Column, right: _Column, node: exp.Expression) -> ColumnElement[bool]:
        a, b = left.spec, right.spec
        numeric = ("int", "float")
        same = (a.kind == b.kind and (a.kind != "enum" or a.vocabulary is b.vocabulary)) or (
            a.kind in numeric and b.kind in numeric)
        if not same or "city_tier" in (a.name, b.name):
            raise self.error("columns_mismatch", node)
        if op not in ("=", "<>") and a.kind in ("text", "enum", "bool"):
            raise self.operator_error(left, op, node)
        x, y = self.expr(a), self.expr(b)
        return {"=": x == y, "<>": x != y, ">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y}[op]

    def in_list(self, node: exp.In) -> ColumnElement[bool]:
        if node.args.get("query") is not None or node.args.get("unnest") is not None \
                or node.args.get("field") is not None:
            raise self.error("in_values", node)
        column = self.operand(node.this)
        if not isinstance(column, _Column):
            raise self.error("needs_column", node)
        items = node.expressions
        if not items:
            raise self.error("in_values", node)
        if column.spec.kind == "bool":
            raise self.operator_error(column, "IN", node)
        values = [self.coerce(column, self.value(item)) for item in items]
        return self.equals(column, values)

    def between(self, node: exp.Between) -> ColumnElement[bool]:
        if node.args.get("symmetric"):
            raise self.error("symmetric", node)
        column = self.operand(node.this)
        if not isinstance(column, _Column):
            raise self.error("needs_column", node)
        if column.spec.kind in ("text", "enum", "bool"):
            raise self.operator_error(column, "BETWEEN", node)
        low = self.coerce(column, self.value(node.args["low"]))
        high = self.coerce(column, self.value(node.args["high"]))
        return and_(self.ordered(column, ">=", low), self.ordered(column, "<=", high))

    def like(self, node: exp.Like | exp.ILike) -> ColumnElement[bool]:
        column = self.operand(node.this)
        if not isinstance(column, _Column):
            raise self.error("needs_column", node)
        pattern = self.operand(node.expression)
        if not isinstance(pattern, _Value) or not isinstance(pattern.value, str):
            raise self.error("like_pattern", node.expression)
        spec = column.spec
        if spec.kind not in ("text", "enum"):
            raise self.operator_error(column, "LIKE", node)
        if spec.kind == "enum":
            regex = _like_regex(pattern.value)
            codes = [code for code, names in spec.vocabulary.items()
                     if any(regex.fullmatch(text) for text in (code, *names))]
            if spec.name == "city_tier":
                result: ColumnElement[bool] = self.tier_is(codes)
            else:
                col = self.expr(spec)
                result = col.in_(stored_values(spec, codes)) if codes else _never(col)
        else:
            trailing = len(pattern.value) - len(pattern.value.rstrip("\\"))
            if trailing % 2:
                raise self.error("like_escape", pattern.node)
            result = self.expr(spec).ilike(pattern.value, escape="\\")
        return not_(result) if node.args.get("negate") else result

    def is_(self, node: exp.Is) -> ColumnElement[bool]:
        column = self.operand(node.this)
        if not isinstance(column, _Column):
            raise self.error("needs_column", node)
        target = node.expression
        if isinstance(target, exp.Null):
            if column.spec.name == "city_tier":
                return false()
            return self.expr(column.spec).is_(None)
        if isinstance(target, exp.Boolean) and column.spec.kind == "bool":
            return self.expr(column.spec).is_(bool(target.this))
        if isinstance(target, exp.Boolean):
            raise self.operator_error(column, "IS TRUE", node)
        raise self.error("not_allowed", target, what="IS")


def compile_rule(rule: str, context: RuleContext | None = None) -> CompiledRule:
    """Parse and check ``rule`` and compile it to a filter of the feature query.

    Raises
    ------
    RuleError
        For anything that is not in the language (see the module's docstring), with the offending text and its
        position. No other exception comes out of it for any input text.
    """
    if not isinstance(rule, str):
        raise RuleError("empty", "", 0, 0)
    tree = parse(rule)
    compiler = _Compiler(rule, context or RuleContext())
    try:
        where = compiler.predicate(tree)
    except RecursionError:
        raise RuleError("too_deep", rule, 0, 0, limit=MAX_DEPTH) from None
    if not isinstance(where, _Col):  # pragma: no cover — every branch returns a SQLAlchemy expression
        raise RuleError("unreadable", rule, 0, len(rule))
    names = frozenset(compiler.columns)
    from kehu.segments.columns import COLUMNS

    sources = {COLUMNS[n].source for n in names}
    return CompiledRule(rule=rule, where=where, columns=names,
                        needs_customers=bool(sources & {"customer", "computed"}), needs_traits="trait" in sources)


def check_rule(rule: str) -> None:
    """Raise :class:`RuleError` unless ``rule`` compiles (with today's date and no store places)."""
    compile_rule(rule)


def feature_source(compiled: CompiledRule, *, customers: bool = False) -> Any:
    """The fixed feature query's FROM: the snapshot rows, joined with the customers and the segment traits when
    the rule reads them (or, for the customers, when ``customers`` asks for the join)."""
    source: Any = Classification.__table__
    if compiled.needs_customers or customers:
        source = source.join(Customer.__table__, Customer.id == Classification.customer_id)
    if compiled.needs_traits:
        source = source.outerjoin(SegmentTrait.__table__, and_(SegmentTrait.snapshot_id == Classification.snapshot_id,
                                                               SegmentTrait.customer_id == Classification.customer_id))
    return source


def member_query(compiled: CompiledRule, snapshot_id: int, *columns: Any, customers: bool = False) -> Select[Any]:
    """``SELECT columns`` (default: ``classifications.customer_id``) of the snapshot's customers that match the
    rule: the fixed feature query (:func:`feature_source`) with the rule as its only user-made part, a filter of
    bound parameters."""
    return (select(*(columns or (Classification.customer_id,)))
            .select_from(feature_source(compiled, customers=customers))
            .where(Classification.snapshot_id == snapshot_id, compiled.where))


__all__ = ["CITY_TIERS", "CompiledRule", "MESSAGES", "Places", "RuleContext", "RuleError", "check_rule",
           "compile_rule", "feature_source", "member_query", "parse", "tokens"]
