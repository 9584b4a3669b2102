"""Reading an input file into a DuckDB table of text cells, with the line each row came from.

Every reader yields the same shape: a table ``raw`` whose columns are the file's headers (cleaned of padding, BOM and
``="…"`` wrapping) as VARCHAR, plus ``__line`` (1-based line number in the file; for XLSX the sheet row, for Parquet
the row number + 1 so that the header is line 1) and ``__cells`` (how many cells the row had, not counting empty
trailing cells beyond the header). CSV is read with Python's ``csv`` module (strict quoting) so that line numbers
are exact even with quoted line breaks; rows go to DuckDB in Arrow batches.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from kehu.errors import FileProblem

BATCH_ROWS = 200_000
Progress = Callable[[int, int], None]  # (bytes or rows done, total)

_HEADER_JUNK = re.compile(r'^[\s\ufeff\u3000]*(?:=")?|(?:")?[\s\u3000]*$')


def clean_header(name: object) -> str:
    """A header cell without BOM, padding or ``="…"`` wrapping (``'  订单编号 '`` → ``'订单编号'``)."""
    return _HEADER_JUNK.sub("", "" if name is None else str(name))


def header_key(name: str) -> str:
    """The comparison key of a header: lower-case letters, digits and CJK only.

    ``'Lineitem SKU'`` → ``'lineitemsku'``.
    """
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]", "", clean_header(name).lower())


def detect_encoding(path: Path) -> str:
    """Text encoding of a file: ``utf-8-sig`` (BOM), ``utf-16``, ``utf-8`` when the whole file decodes, else
    ``gb18030`` (a superset of GBK and GB2312) when it decodes, else charset-normalizer's best guess."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 22):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_path

    best = from_path(path).best()
    if best is None:
        raise FileProblem(f"{path}: cannot tell the text encoding; save it as UTF-8 and import again")
    return best.encoding


def sniff_kind(path: Path) -> str:
    """``xlsx``, ``parquet`` or ``text`` from the file's first bytes (not its name).

    Raises :class:`FileProblem` for formats that look like a table but cannot be read (old ``.xls``, compressed).
    """
    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PK\x03\x04"):
        return "xlsx"
    if magic.startswith(b"PAR1"):
        return "parquet"
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileProblem(f"{path}: an old Excel 97-2003 (.xls) workbook; save it as .xlsx or CSV and import again")
    if magic.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!")):
        raise FileProblem(f"{path}: a compressed archive; extract the CSV, XLSX or Parquet file and import that")
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileProblem(f"{path}: not a text table (binary content); import CSV, XLSX or Parquet")
    return "text"


class _CountingReader(io.RawIOBase):
    """Wraps a binary file and reports bytes read, for a progress bar."""

    def __init__(self, raw: io.BufferedReader, progress: Progress | None, total: int) -> None:
        self.raw, self.progress, self.total, self.done = raw, progress, total, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = self.raw.readinto(buffer)
        self.done += n or 0
        if self.progress:
            self.progress(self.done, self.total)
        return n or 0


def _batches_from_rows(headers: list[str], rows: Iterator[tuple[int, list[str | None]]]) -> Iterator[pa.RecordBatch]:
    width = len(headers)
    schema = pa.schema([pa.field(h, pa.string()) for h in headers]
                       + [pa.field("__line", pa.int64()), pa.field("__cells", pa.int32())])
    columns: list[list[str | None]] = [[] for _ in range(width)]
    lines: list[int] = []
    counts: list[int] = []
    for line, cells in rows:
        n = len(cells)
        while n > width and (cells[n - 1] is None or not str(cells[n - 1]).strip()):
            n -= 1  # empty trailing cells (a trailing comma, Excel's ragged rows) are not extra data
        counts.append(n)
        if len(cells) < width:
            cells = cells + [None] * (width - len(cells))
        for col, value in zip(columns, cells, strict=False):
            col.append(value)
        lines.append(line)
        if len(lines) >= BATCH_ROWS:
            yield _batch(schema, columns, lines, counts)
            columns = [[] for _ in range(width)]
            lines, counts = [], []
    yield _batch(schema, columns, lines, counts)


def _batch(schema: pa.Schema, columns: list[list[str | None]], lines: list[int], counts: list[int]) -> pa.RecordBatch:
    arrays = [pa.array(c, pa.string()) for c in columns]
    return pa.RecordBatch.from_arrays(arrays + [pa.array(lines, pa.int64()), pa.array(counts, pa.int32())],
                                      schema=schema)


def _unique_headers(path: Path, cells: list[object]) -> list[str]:
    headers: list[str] = []
    for i, cell in enumerate(cells):
        name = clean_header(cell) or f"column_{i + 1}"
        base, n = name, 2
        while name in headers:
            name, n = f"{base}_{n}", n + 1
        headers.append(name)
    if not any(clean_header(c) for c in cells):
        raise FileProblem(f"{path}: the first row is empty; the first row must hold the column headers")
    return headers


def _csv_rows(path: Path, progress: Progress | None) -> tuple[list[str], Iterator[tuple[int, list[str | None]]]]:
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, newline="", errors="replace") as fh:
        sample = fh.read(64 * 1024)
    if not sample.strip():
        raise FileProblem(f"{path}: the file is empty")
    if "\x00" in sample:
        raise FileProblem(f"{path}: not a text table (binary content); import CSV, XLSX or Parquet")
    first_line = next((line for line in sample.splitlines() if line.strip()), "")
    try:
        delimiter = csv.Sniffer().sniff(first_line, delimiters=",\t;|").delimiter
    except csv.Error:
        delimiter = ","
    binary = path.open("rb")
    text = io.TextIOWrapper(io.BufferedReader(_CountingReader(binary, progress, path.stat().st_size), 1 << 20),
                            encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    try:
        first: list[str] = []
        while not any(cell.strip() for cell in first):  # blank lines before the header
            first = next(reader)
    except StopIteration:
        binary.close()
        raise FileProblem(f"{path}: the file is empty") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        binary.close()
        raise FileProblem(f"{path}: not a readable CSV table ({exc})") from None
    headers = _unique_headers(path, list(first))

    def rows() -> Iterator[tuple[int, list[str | None]]]:
        start = reader.line_num + 1
        try:
            for record in reader:
                if any(cell.strip() for cell in record):
                    yield start, list(record)
                start = reader.line_num + 1
        except csv.Error as exc:
            raise FileProblem(f"{path}, line {start}: the CSV structure is broken ({exc}); "
                              "fix the quoting there (a quote that is not closed, or text after a closing quote) "
                              "and import again") from None
        except UnicodeDecodeError:
            raise FileProblem(f"{path}, line {start}: not valid {encoding} text; save the file as UTF-8 and "
                              "import again") from None
        finally:
            binary.close()

    return headers, rows()


#: Encodings the fast CSV path reads (a quote byte cannot occur inside one of their multi-byte characters).
_FAST_ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
_QUOTED_CELL = r'^"(?:[^"]|"")*"$'
#: Bytes of CSV text the fast path reads (and hands to DuckDB) at a time.
FAST_BLOCK_BYTES = 1 << 24


def _fast_csv(path: Path) -> tuple[list[str], pa.Table] | None:
    """The table of a plain CSV file read by pyarrow, or ``None`` to use the ``csv`` reader (the whole file in
    memory: for tests; imports stream it with :func:`_fast_csv_batches`).

    Exact line numbers need one record per physical line. pyarrow reads without quote handling, so every line is
    one row and line = row index + 2: a quoted line break or delimiter then makes a row of the wrong width, which
    pyarrow refuses (for two columns or more), and the file goes to the ``csv`` reader, the reference for lines and
    messages. A cell that starts with a quote must be one whole quoted value (``"a ""b"" c"``), which is unquoted
    here; anything else (text after a closing quote, an unclosed quote) also goes to the ``csv`` reader. So does
    any pyarrow error: a wrong cell count (including Taobao's trailing commas), bad text, a header that is not on
    line 1 or spans lines. Blank rows are dropped, as the ``csv`` reader drops them.
    """
    fast = _fast_csv_batches(path)
    if fast is None:
        return None
    headers, schema, batches = fast
    try:
        return headers, pa.Table.from_batches(list(batches), schema=schema)
    except NotFast:
        return None


class NotFast(Exception):
    """Raised while streaming a fast-path CSV when a later block turns out to need the ``csv`` reader."""


def _fast_csv_batches(path: Path) -> tuple[list[str], pa.Schema, Iterator[pa.RecordBatch]] | None:
    """:func:`_fast_csv` as a stream: (headers, schema, batches), or ``None`` when the file's start already rules
    the fast path out. The batches are read block by block (:data:`FAST_BLOCK_BYTES`), so memory does not grow
    with the file; one that cannot be read exactly raises :class:`NotFast` and the caller starts again with the
    ``csv`` reader."""
    encoding = detect_encoding(path)
    if encoding not in _FAST_ENCODINGS:
        return None
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    if encoding == "utf-8-sig":
        head = head[len(codecs.BOM_UTF8):]
    first_line, newline, _ = head.partition(b"\n")
    if not newline or not first_line.strip() or b"\x00" in head or first_line.count(b'"') % 2:
        return None  # a header longer than the sample or spanning lines, blank lines before it, binary content
    first_text = first_line.decode(encoding if encoding != "utf-8-sig" else "utf-8", errors="replace").rstrip("\r")
    try:
        delimiter = csv.Sniffer().sniff(first_text, delimiters=",\t;|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        cells = next(csv.reader(io.StringIO(first_text), delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration):
        return None
    if "\r" in first_text or not any(c.strip() for c in cells) or len(cells) < 2:
        return None  # a lone CR ends a line for the csv reader too; one column cannot tell a quoted line break
    headers = _unique_headers(path, list(cells))
    schema = pa.schema([pa.field(h, pa.string()) for h in headers]
                       + [pa.field("__line", pa.int64()), pa.field("__cells", pa.int32())])
    options = {
        "read_options": pacsv.ReadOptions(skip_rows=1, column_names=headers, autogenerate_column_names=False,
                                          encoding="utf8" if encoding.startswith("utf-8") else encoding,
                                          block_size=FAST_BLOCK_BYTES),
        "parse_options": pacsv.ParseOptions(delimiter=delimiter, quote_char=False, escape_char=False,
                                            newlines_in_values=False, ignore_empty_lines=False),
        "convert_options": pacsv.ConvertOptions(column_types={h: pa.string() for h in headers},
                                                strings_can_be_null=False, check_utf8=True),
    }
    try:
        reader = pacsv.open_csv(path, **options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError, ValueError):
        return None

    def batches() -> Iterator[pa.RecordBatch]:
        line = 2
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError, ValueError):
                    raise NotFast from None
                plain = _plain_batch(batch, line)
                if plain is None:
                    raise NotFast
                line += batch.num_rows
                yield plain
        finally:
            reader.close()

    return headers, schema, batches()


def _plain_batch(batch: pa.RecordBatch, first_line: int) -> pa.RecordBatch | None:
    """Rows of a fast-path batch with quoted cells unquoted, blank rows dropped, ``__line`` and ``__cells`` added;
    ``None`` when a cell starts with a quote but is not one whole quoted value."""
    columns = []
    blank = None
    for col in batch.columns:
        if pc.any(pc.match_substring(col, '"')).as_py():
            starts = pc.starts_with(col, '"')
            if pc.any(pc.and_(starts, pc.invert(pc.match_substring_regex(col, _QUOTED_CELL)))).as_py():
                return None  # text after a closing quote, an unclosed quote: the csv reader says where
            inner = pc.replace_substring(pc.utf8_slice_codeunits(col, 1, -1), '""', '"')
            col = pc.if_else(starts, inner, col)
        columns.append(col)
        empty = pc.or_(pc.equal(pc.binary_length(col), 0), pc.utf8_is_space(col))
        blank = empty if blank is None else pc.and_(blank, empty)
    n = batch.num_rows
    out = pa.RecordBatch.from_arrays(
        columns + [pa.array(np.arange(first_line, first_line + n, dtype=np.int64)),
                   pa.array(np.full(n, batch.num_columns, dtype=np.int32))],
        names=[*batch.schema.names, "__line", "__cells"])
    if blank is not None and pc.any(blank).as_py():
        out = out.filter(pc.invert(blank))
    return out


def _whitespace_rows(path: Path, progress: Progress | None) -> tuple[list[str], Iterator[tuple[int, list[str | None]]]]:
    encoding = detect_encoding(path)
    total = path.stat().st_size
    fh = io.TextIOWrapper(io.BufferedReader(_CountingReader(path.open("rb"), progress, total), 1 << 20),
                          encoding=encoding)

    def rows() -> Iterator[tuple[int, list[str | None]]]:
        number = 0
        try:
            with fh:
                for number, line in enumerate(fh, start=1):  # noqa: B007 (number is read in the except)
                    if "\x00" in line:
                        raise FileProblem(f"{path}, line {number}: not a text table (binary content)")
                    cells = line.split()
                    if cells:
                        yield number, list(cells)
        except UnicodeDecodeError:
            raise FileProblem(f"{path}, line {number + 1}: not valid {encoding} text; save the file as UTF-8 "
                              "and import again") from None

    return [], rows()


def _xlsx_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str | None]]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise FileProblem(f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
    if not book.worksheets:
        raise FileProblem(f"{path}: the workbook has no worksheet")
    sheet = book.worksheets[0]
    it = sheet.iter_rows(values_only=True)
    first = next(it, None)
    if first is None or all(v in (None, "") for v in first):
        book.close()
        raise FileProblem(f"{path}: the first sheet is empty or its first row (the headers) is blank")
    headers = _unique_headers(path, list(first))

    def cell(value: object) -> str | None:
        if value is None:
            return None
        if hasattr(value, "isoformat"):
            return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def rows() -> Iterator[tuple[int, list[str | None]]]:
        try:
            for number, values in enumerate(it, start=2):
                if values and any(v not in (None, "") for v in values):
                    yield number, [cell(v) for v in values]
        except Exception as exc:  # a damaged sheet fails while its rows are read
            raise FileProblem(f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
        finally:
            book.close()

    return headers, rows()


def read_raw(con: duckdb.DuckDBPyConnection, path: Path, *, layout: str = "csv",
             progress: Progress | None = None) -> list[str]:
    """Load ``path`` into the DuckDB table ``raw`` (text cells + ``__line``) and return its headers.

    ``layout`` is ``csv`` (headers in the first row) or ``whitespace`` (CDNOW: no quoting, cells split on runs of
    blanks, columns named ``column_1``…; a header line is kept as a row for the format to drop). Raises
    :class:`FileProblem` for a missing, empty, unreadable or non-tabular file.
    """
    if not path.exists():
        raise FileProblem(f"{path}: no such file")
    if path.is_dir():
        raise FileProblem(f"{path}: is a folder, not a file")
    if path.stat().st_size == 0:
        raise FileProblem(f"{path}: the file is empty")
    kind = sniff_kind(path)
    con.execute("DROP TABLE IF EXISTS raw")
    if kind == "parquet":
        try:
            con.execute(f"CREATE TABLE raw AS SELECT * FROM read_parquet('{_sql_path(path)}', "
                        "file_row_number = true)")
        except duckdb.Error as exc:
            raise FileProblem(f"{path}: not a readable Parquet file ({exc})") from None
        cols = [r[0] for r in con.execute("DESCRIBE raw").fetchall() if r[0] != "file_row_number"]
        headers = _unique_headers(path, list(cols))
        select = ", ".join(f"CAST({ident(c)} AS VARCHAR) AS {ident(h)}" for c, h in zip(cols, headers, strict=True))
        con.execute(f"CREATE OR REPLACE TABLE raw AS SELECT {select}, "
                    "CAST(file_row_number + 2 AS BIGINT) AS __line, "
                    f"CAST({len(cols)} AS INTEGER) AS __cells FROM raw")
        return headers
    if kind == "text" and layout == "csv":
        if progress:
            progress(0, path.stat().st_size)
        fast = _fast_csv_batches(path)
        if fast is not None and _stream_into_raw(con, *fast[1:]):
            if progress:
                size = path.stat().st_size
                progress(size, size)
            return fast[0]
    if kind == "xlsx":
        headers, rows = _xlsx_rows(path)
    elif layout == "whitespace":
        headers, rows = _whitespace_rows(path, progress)
    else:
        headers, rows = _csv_rows(path, progress)
    if layout == "whitespace":
        rows_list = _peek_width(rows)
        width, rows = rows_list
        headers = [f"column_{i + 1}" for i in range(width)]
    failures: list[BaseException] = []
    batches = _batches_from_rows(headers, _remember(rows, failures))
    first = next(batches)
    reader = pa.RecordBatchReader.from_batches(first.schema, _chain(first, batches))  # noqa: F841 (DuckDB scans it by name)
    try:
        con.execute("CREATE TABLE raw AS SELECT * FROM reader")
    except duckdb.Error:
        # DuckDB wraps an exception raised while it pulls the batches; give back the reader's own FileProblem.
        if failures:
            raise failures[0] from None
        raise
    return headers


def _stream_into_raw(con: duckdb.DuckDBPyConnection, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> bool:
    """Create ``raw`` from fast-path batches as they are read; ``False`` (and no ``raw``) when a batch turned out
    to need the ``csv`` reader."""
    failures: list[BaseException] = []
    reader = pa.RecordBatchReader.from_batches(schema, _remember(batches, failures))  # noqa: F841 (scanned by name)
    try:
        con.execute("CREATE TABLE raw AS SELECT * FROM reader")
    except (duckdb.Error, NotFast):
        con.execute("DROP TABLE IF EXISTS raw")
        if failures and isinstance(failures[0], NotFast):
            return False
        if failures:
            raise failures[0] from None
        raise
    return True


def _remember(rows: Iterator[Any], failures: list[BaseException]) -> Iterator[Any]:
    try:
        yield from rows
    except BaseException as exc:
        failures.append(exc)
        raise


def ident(name: str) -> str:
    """A SQL identifier in double quotes (quotes inside doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _peek_width(rows: Iterator[tuple[int, list[str | None]]]) -> tuple[int, Iterator[tuple[int, list[str | None]]]]:
    """Width of whitespace rows = the most common number of cells in the first 1,000 rows (ties: the larger), so
    one ragged row near the top does not widen the table."""
    head = []
    for item in rows:
        head.append(item)
        if len(head) >= 1000:
            break
    widths = Counter(len(cells) for _, cells in head)
    width = max(widths, key=lambda w: (widths[w], w)) if widths else 1

    def chained() -> Iterator[tuple[int, list[str | None]]]:
        yield from head
        yield from rows

    return width, chained()


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
