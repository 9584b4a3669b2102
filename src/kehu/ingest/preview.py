"""A look at a file before it is imported: its format, headers, first rows, the column mapping and its problems.

:func:`preview_file` reads the whole file and validates it with the import's own code
(:func:`kehu.ingest.pipeline.validate_raw`, i.e. :mod:`kehu.ingest.transform`) in a private in-memory DuckDB,
without touching the store: nothing is written, no import run is created. Personal values never leave it in clear:
cells of the columns that feed a personal field (name, phone, e-mail, address; the customer id of a format whose id
is the e-mail) are masked (``138****5678``, ``张**``) in the sample rows and in the problems.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from kehu.config import Settings
from kehu.errors import InvalidInput
from kehu.ingest.formats import CUSTOMER_FIELDS, FORMATS, ORDER_FIELDS, Format, get_format
from kehu.ingest.load import Counts
from kehu.ingest.pipeline import DUCKDB_MEMORY, validate_raw
from kehu.ingest.readers import read_raw, sniff_kind
from kehu.ingest.transform import Mapping, resolve_mapping
from kehu.privacy import FieldCipher, mask_email, mask_name, mask_phone

KINDS = ("orders", "customers")
#: Personal fields (canonical or a format's helper) whose cells are masked in a preview.
PII_FIELDS = frozenset({"name", "customer_name", "phone", "email", "address", "__first_name", "__last_name"})
#: How many problems a preview keeps (the count covers all of them).
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    """One reason a row cannot be imported: ``line`` in the file (1 = the header), the ``column`` header (``*``
    for the whole row), the cell ``value`` (masked when personal) and the ``reason`` (English, from the
    validation)."""

    line: int
    column: str
    value: str
    reason: str


@dataclass(frozen=True)
class FieldMapping:
    """One kehu field of the kind: which header feeds it.

    ``suggested`` is the header matched by the format's alias list, ``header`` the one used (the override, else the
    suggestion); ``derived`` says the format computes the field itself (CDNOW's order id, Taobao's dates) when no
    header feeds it.
    """

    name: str
    required: bool
    suggested: str | None
    header: str | None
    derived: bool


@dataclass(frozen=True)
class Preview:
    """What :func:`preview_file` found.

    ``rows`` are the first rows as text cells in ``headers`` order (``None`` for an empty cell), each with its line
    number in ``lines``; the cells of ``masked_headers`` are masked. ``missing`` lists the required fields no
    header feeds; when it is empty the whole file was validated (``validated``): ``total_rows`` data rows (header
    lines inside the data not counted, see ``skipped``), ``rejected_rows`` of them with problems, ``problem_count``
    problems in all and the first :data:`MAX_PROBLEMS` in ``problems``. Without validation those counts are 0 and
    ``total_rows`` is the number of rows read.
    """

    kind: str
    format_name: str
    detected_format: str | None
    headers: list[str]
    lines: list[int]
    rows: list[list[str | None]]
    fields: list[FieldMapping]
    masked_headers: frozenset[str]
    missing: list[str]
    validated: bool
    total_rows: int
    skipped: int = 0
    rejected_rows: int = 0
    problem_count: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)

    @property
    def suggested_mapping(self) -> dict[str, str]:
        """Field → header from the alias lists."""
        return {f.name: f.suggested for f in self.fields if f.suggested}

    @property
    def mapping(self) -> dict[str, str]:
        """Field → header used (overrides applied)."""
        return {f.name: f.header for f in self.fields if f.header}

    def overrides(self, chosen: dict[str, str]) -> dict[str, str]:
        """The part of ``chosen`` (field → header) that differs from the suggestion: what to pass as ``mapping``
        to an import (a field left to its alias match keeps every matching header as a fallback)."""
        suggested = self.suggested_mapping
        return {k: v for k, v in chosen.items() if v and suggested.get(k) != v}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}; choose orders or customers")


_WHITESPACE_ROW = re.compile(r"^\s*\S+\s+[0-9]{8}\s+\S+\s+\S+\s*$")


def looks_like_cdnow(path: Path) -> bool:
    """Whether ``path`` is a headerless whitespace-separated log like CDNOW's (id, YYYYMMDD, quantity, amount).

    Looks at the first 5 non-empty lines of the first 8 KiB: no comma, tab, semicolon or bar, and a data line of four
    blank-separated cells whose second is 8 digits.
    """
    if sniff_kind(path) != "text":
        return False
    with path.open("rb") as fh:
        head = fh.read(8192).decode("utf-8", errors="replace")
    lines = [line for line in head.splitlines()[:-1] or head.splitlines() if line.strip()][:5]
    if not lines or any(ch in line for line in lines for ch in ",\t;|"):
        return False
    return any(_WHITESPACE_ROW.match(line) for line in lines)


def _lenient(fmt: Format) -> Format:
    return dataclasses.replace(fmt, required=())


def detect_format(kind: str, headers: list[str]) -> str:
    """The format of ``kind`` whose alias lists fit ``headers`` best (``generic`` when none fits).

    A format fits when every required field has a header; among those the one matching the most fields wins, a
    shop format before ``generic`` on a tie. CDNOW has no headers: see :func:`looks_like_cdnow`.
    """
    _check_kind(kind)
    best: tuple[int, int, int] | None = None
    name = "generic"
    for (k, fname), fmt in FORMATS.items():
        if k != kind or fmt.layout != "csv":
            continue
        found = resolve_mapping(_lenient(fmt), headers, {}, "").headers
        if any(f not in found and f not in fmt.derived for f in fmt.required):
            continue
        score = (len(found), int(fname != "generic"), -len(fmt.aliases))
        if best is None or score > best:
            best, name = score, fname
    return name


def _mask(field: str, value: str | None) -> str | None:
    if value is None or value == "":
        return value
    if field == "phone":
        return mask_phone(value)
    if field in ("email", "customer_id"):
        return mask_email(value)
    if field == "address":
        return value[0] + "****"
    return mask_name(value)


def _connect(settings: Settings | None) -> duckdb.DuckDBPyConnection:
    tmp = Path(settings.data_dir) / "tmp" if settings is not None else Path(tempfile.gettempdir())
    tmp.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(config={"temp_directory": str(tmp), "autoinstall_known_extensions": False,
                                  "autoload_known_extensions": False, "memory_limit": DUCKDB_MEMORY})


def preview_file(path: Path, *, kind: str, format_name: str | None = None, mapping: dict[str, str] | None = None,
                 rows: int = 20, settings: Settings | None = None) -> Preview:
    """Read ``path`` as a ``kind`` file and say how it would import, without writing anything.

    Parameters
    ----------
    path
        A CSV/TXT, XLSX or Parquet file (CDNOW: the whitespace log).
    kind
        ``orders`` or ``customers``.
    format_name
        A format of that kind (``generic``, ``taobao``, ``shopify``, ``cdnow``); ``None`` detects it from the
        headers (:func:`detect_format`) or the layout (:func:`looks_like_cdnow`).
    mapping
        FIELD → HEADER overrides, as the CLI's ``--map`` (an empty header is ignored).
    rows
        How many rows to keep as the sample (0–1000).
    settings
        Only for DuckDB's spill directory (``data_dir/tmp``); without it the system's temp directory.

    Raises :class:`~kehu.errors.FileProblem` for an unreadable file and :class:`~kehu.errors.InvalidInput` for an
    unknown kind or format, or an override naming an unknown field or a header the file does not have. A required
    column missing is not an error here: it is listed in ``missing``.
    """
    _check_kind(kind)
    path = Path(path)
    rows = max(0, min(int(rows), 1000))
    overrides = {k: v for k, v in (mapping or {}).items() if v}
    cdnow = kind == "orders" and path.is_file() and path.stat().st_size > 0 and looks_like_cdnow(path)
    chosen = get_format(kind, format_name) if format_name else None
    layout = chosen.layout if chosen else ("whitespace" if cdnow else "csv")
    con = _connect(settings)
    try:
        headers = read_raw(con, path, layout=layout)
        if cdnow:
            detected: str | None = "cdnow"
        elif layout == "csv":
            detected = detect_format(kind, headers)
        else:
            detected = None
        fmt = chosen or get_format(kind, detected or "generic")
        lenient = resolve_mapping(_lenient(fmt), headers, overrides, str(path.name))
        suggested = resolve_mapping(_lenient(fmt), headers, {}, str(path.name)).headers
        fields = _fields(fmt, suggested, lenient)
        masked = _masked_headers(fmt, lenient)
        sample = con.execute(f"SELECT * FROM raw ORDER BY __line LIMIT {rows}").fetchall()
        names = [d[0] for d in con.description]
        line_at = names.index("__line")
        lines = [int(r[line_at]) for r in sample]
        cells = [[clean_cell(r[names.index(h)]) if h in names else None for h in headers] for r in sample]
        used_headers = {h for hs in lenient.sources.values() for h in hs}
        field_of = {h: f for f, hs in lenient.sources.items() for h in hs if f in PII_FIELDS or h in masked}
        for row in cells:
            for i, header in enumerate(headers):
                if header in masked:
                    row[i] = _mask(field_of.get(header, "name"), row[i])
                elif header not in used_headers:
                    row[i] = _mask_lookalike(row[i])
        missing = [f.name for f in fields if f.required and not f.header and not f.derived]
        total = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
        base = dict(kind=kind, format_name=fmt.name, detected_format=detected, headers=headers, lines=lines,
                    rows=cells, fields=fields, masked_headers=frozenset(masked), missing=missing)
        if missing:
            return Preview(**base, validated=False, total_rows=total)  # type: ignore[arg-type]
        counts = Counts()
        cipher = FieldCipher(os.urandom(32), os.urandom(32))  # blind indexes only group rows within this preview
        validate_raw(con, fmt=fmt, headers=headers, maps=overrides, cipher=cipher, file=path.name, counts=counts)
        n_problems = con.execute("SELECT count(*) FROM problems").fetchall()[0][0]
        first = con.execute(f'SELECT line, "column", value, reason FROM problems ORDER BY line, "column" '
                            f"LIMIT {MAX_PROBLEMS}").fetchall()
    finally:
        con.close()
    problems = [Problem(int(line), str(column), _problem_value(column, value, masked, field_of), str(reason))
                for line, column, value, reason in first]
    return Preview(**base, validated=True, total_rows=counts.read, skipped=counts.skipped,  # type: ignore[arg-type]
                   rejected_rows=counts.rejected, problem_count=n_problems, problems=problems)


def _problem_value(column: str, value: str | None, masked: set[str], field_of: dict[str, str]) -> str:
    if value is None:
        return ""
    if column in masked:
        return _mask(field_of.get(column, "name"), value) or ""
    return _mask_lookalike(str(value)) or ""


_WRAPPED = re.compile(r'^="(.*)"$', re.DOTALL)
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_LIKE = re.compile(r"(?:\+?86[\s-]?)?1[3-9][0-9]{9}|\+[0-9][0-9 ()\-]{6,18}[0-9]")


def clean_cell(value: object) -> str | None:
    """A cell as the import reads it: blanks trimmed, ``="…"`` unwrapped, a leading apostrophe dropped; empty →
    ``None`` (the same rules as :func:`kehu.ingest.transform._clean`, for display only)."""
    if value is None:
        return None
    text = str(value).strip(" \t\r\n\f\u3000\ufeff")
    text = _WRAPPED.sub(r"\1", text).removeprefix("'").strip(" \t\r\n\f\u3000")
    return text or None


def _mask_lookalike(value: str | None) -> str | None:
    """Mask a cell of a column that feeds no field when it looks like an e-mail or a phone number (a mainland
    mobile, or ``+`` and digits), e.g. Taobao's unmapped 买家支付宝账号, so that no such value is shown in clear."""
    if not value:
        return value
    if _EMAIL_LIKE.fullmatch(value):
        return mask_email(value)
    if _PHONE_LIKE.fullmatch(value):
        return mask_phone(value)
    return value


def _fields(fmt: Format, suggested: dict[str, str], used: Mapping) -> list[FieldMapping]:
    canonical = ORDER_FIELDS if fmt.kind == "orders" else CUSTOMER_FIELDS
    return [FieldMapping(name=f, required=f in fmt.required, suggested=suggested.get(f), header=used.headers.get(f),
                         derived=f in fmt.derived) for f in canonical]


def _masked_headers(fmt: Format, used: Mapping) -> set[str]:
    personal = set(PII_FIELDS) | ({"customer_id"} if fmt.customer_id_is_email else set())
    return {h for f, hs in used.sources.items() if f in personal for h in hs}


__all__ = ["MAX_PROBLEMS", "FieldMapping", "Preview", "Problem", "detect_format", "looks_like_cdnow", "preview_file"]
