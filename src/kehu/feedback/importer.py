"""``kehu feedback import FILE``: complaints and reviews from CSV or XLSX, through the import's reader and rejects
conventions (:mod:`kehu.ingest`).

The file has a header row; columns are found by name (any of the aliases below, compared like the order import
compares headers: case, blanks and punctuation ignored):

=============  ========================================================  ==========================================
field          headers                                                   value
=============  ========================================================  ==========================================
customer_id    customer_id, customer, 客户编号, 客户id, 会员id, 买家       the customer's id in the source system
                                                                         (as imported with the orders); required
created_at     created_at, date, time, 时间, 日期, 反馈时间, 评价时间       e.g. 2025-03-02 14:41, 2025/3/2, 20250302;
                                                                         required
kind           kind, type, 类型, 反馈类型                                   complaint / 投诉, review / 评价 / 评论;
                                                                         blank: review with a rating, else complaint
rating         rating, stars, score, 评分, 星级                             1 … 5 (optional)
text           text, content, comment, review, 内容, 评价内容, 反馈内容      up to 4,000 characters; text or rating
                                                                         required
channel        channel, 渠道, 来源                                          free text, up to 32 characters (optional)
status         status, 状态, 处理状态                                        new / 新, in_progress / 处理中,
                                                                         resolved / 已解决 (optional, default new)
responded_at   responded_at, first_response_at, 首次响应时间, 回复时间       when it was first answered (optional)
=============  ========================================================  ==========================================

A row that cannot be used goes to the rejects CSV (file, line, column, value, reason), like the order import's;
the other rows are imported. Importing the same file again adds nothing (a keyed hash of customer, time, kind and
text identifies a row). Each run is an :class:`~kehu.store.ImportRun` of kind ``feedback`` and is audited.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kehu.config import Settings
from kehu.errors import FileProblem
from kehu.feedback.rules import load_rules
from kehu.feedback.service import STATUSES, TEXT_MAX, add_feedback, row_key
from kehu.ingest.pipeline import default_rejects_dir
from kehu.ingest.readers import header_key, read_raw
from kehu.ingest.transform import TIMESTAMP_FORMATS
from kehu.privacy import FieldCipher, audit
from kehu.store import Customer, Feedback, ImportRun, open_store, session_scope

#: field → header aliases (compared with :func:`kehu.ingest.readers.header_key`).
ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": ("customer_id", "customer id", "customer", "客户编号", "客户id", "会员id", "用户id", "买家"),
    "created_at": ("created_at", "created", "date", "time", "datetime", "时间", "日期", "反馈时间", "评价时间",
                   "投诉时间"),
    "kind": ("kind", "type", "类型", "反馈类型"),
    "rating": ("rating", "stars", "score", "评分", "星级"),
    "text": ("text", "content", "comment", "review", "feedback", "内容", "评价内容", "反馈内容", "投诉内容"),
    "channel": ("channel", "渠道", "来源"),
    "status": ("status", "状态", "处理状态"),
    "responded_at": ("responded_at", "first_response_at", "首次响应时间", "回复时间", "响应时间"),
}
REQUIRED: tuple[str, ...] = ("customer_id", "created_at")
KIND_VALUES: dict[str, str] = {"complaint": "complaint", "投诉": "complaint", "review": "review", "评价": "review",
                               "评论": "review"}
STATUS_VALUES: dict[str, str] = {**{s: s for s in STATUSES}, "in progress": "in_progress", "新": "new",
                                 "新建": "new", "待处理": "new", "处理中": "in_progress", "已解决": "resolved",
                                 "已处理": "resolved", "open": "new", "closed": "resolved"}
#: Rows written per transaction.
BATCH = 500
_ZONE = re.compile(r"([0-9]:[0-9]{2}(?::[0-9]{2}(?:[.][0-9]+)?)?)\s*(?:Z|UTC|GMT|[+-][0-9]{2}(?::?[0-9]{2})?)$")


@dataclass
class FeedbackImportReport:
    """What a feedback import did: rows read, inserted, already there (unchanged), rejected; where the rejects
    went."""

    run_id: int
    file: str
    read: int = 0
    inserted: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    problems: list[tuple[int, str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI and the web page."""
        text = (f"{self.file}: read {self.read}, inserted {self.inserted}, unchanged {self.unchanged}, "
                f"rejected {self.rejected}")
        return text + (f"; rejects in {self.rejects_path}" if self.rejects_path else "")


def parse_time(value: str) -> datetime | None:
    """A date/time cell in any of the import's formats (a trailing zone and a ``T`` are ignored), or ``None``."""
    bare = _ZONE.sub(r"\1", value.strip()).replace("T", " ")
    for fmt in TIMESTAMP_FORMATS:
        try:
            return datetime.strptime(bare, fmt)
        except ValueError:
            continue
    return None


def _columns(headers: list[str], file: str) -> dict[str, str]:
    """field → the file's header; :class:`FileProblem` naming the missing required columns."""
    by_key = {header_key(h): h for h in headers}
    found: dict[str, str] = {}
    for name, aliases in ALIASES.items():
        for alias in aliases:
            header = by_key.get(header_key(alias))
            if header is not None:
                found[name] = header
                break
    missing = [n for n in REQUIRED if n not in found]
    if missing:
        raise FileProblem(f"{file}: no column for {', '.join(missing)}; expected a header such as "
                          + "; ".join(f"{n}: {', '.join(ALIASES[n][:4])}" for n in missing))
    if "text" not in found and "rating" not in found:
        raise FileProblem(f"{file}: neither a text column (text, content, 内容) nor a rating column (rating, 评分)")
    return found


def _customers(session: Session, ids: set[str], source: str | None) -> dict[str, list[int]]:
    """external id → the store ids of the customers with it (of ``source`` when given); −1 stands for a customer
    whose personal data was erased."""
    found: dict[str, list[int]] = {}
    values = sorted(ids)
    for start in range(0, len(values), 1000):
        query = (select(Customer.external_id, Customer.id, Customer.erased_at)
                 .where(Customer.external_id.in_(values[start:start + 1000])))
        if source:
            query = query.where(Customer.source == source)
        for external_id, store_id, erased_at in session.execute(query):
            found.setdefault(external_id, []).append(-1 if erased_at is not None else store_id)
    return found


def _write_rejects(path: Path, file: Path, problems: list[tuple[int, str, str, str]]) -> None:
    from kehu.ingest.pipeline import _safe_cell

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "line", "column", "value", "reason"])
        for line, column, value, reason in problems:
            writer.writerow([str(file), line, column, _safe_cell(value), reason])


def _read(settings: Settings, path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    tmp = Path(settings.data_dir) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"temp_directory": str(tmp), "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        headers = read_raw(con, path)
        cursor = con.execute("SELECT * FROM raw ORDER BY __line")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    finally:
        con.close()
    return headers, rows


def import_feedback(*, settings: Settings, path: Path, source: str | None = None, rejects: Path | None = None,
                    user_id: int | None = None, username: str | None = None, via: str = "cli") -> FeedbackImportReport:
    """Import one feedback file (see the module docstring) and return what happened.

    Raises :class:`~kehu.errors.FileProblem` when the file cannot be read or lacks a required column (nothing is
    imported; the run is marked failed). ``source`` limits the customer lookup to one source system (``generic``,
    ``taobao``, …) when the same id exists in several.
    """
    path = Path(path)
    url = settings.store_url
    open_store(url)
    with session_scope(url) as session:
        run = ImportRun(kind="feedback", file=str(path), format="feedback", status="running")
        session.add(run)
        session.flush()
        run_id = run.id
    report = FeedbackImportReport(run_id=run_id, file=str(path))
    try:
        _import(settings, path, source, rejects, report)
    except BaseException as exc:
        with session_scope(url) as session:
            session.execute(update(ImportRun).where(ImportRun.id == run_id).values(
                status="failed", finished_at=datetime.now(), message=str(exc)[:2000]))
        raise
    with session_scope(url) as session:
        session.execute(update(ImportRun).where(ImportRun.id == run_id).values(
            status="succeeded", finished_at=datetime.now(), rows_read=report.read, inserted=report.inserted,
            unchanged=report.unchanged, rejected=report.rejected, rejects_path=report.rejects_path, message=None))
        audit.record(session, action="import", user_id=user_id, username=username, target_type="import_run",
                     target_id=run_id, detail={"kind": "feedback", "read": report.read, "inserted": report.inserted,
                                               "rejected": report.rejected}, via=via)
    return report


def _import(settings: Settings, path: Path, source: str | None, rejects: Path | None,
            report: FeedbackImportReport) -> None:
    headers, rows = _read(settings, path)
    cols = _columns(headers, str(path))
    report.read = len(rows)
    cipher = FieldCipher.from_settings(settings)
    problems = report.problems

    def cell(row: dict[str, Any], name: str) -> str | None:
        header = cols.get(name)
        value = row.get(header) if header else None
        value = str(value).strip() if value is not None else None
        return value or None

    good: list[dict[str, Any]] = []
    for row in rows:
        line = int(row["__line"])
        bad: list[tuple[str, str, str]] = []
        customer = cell(row, "customer_id")
        if customer is None:
            bad.append(("customer_id", "", "empty; every row needs the customer's id"))
        at_text = cell(row, "created_at")
        at = parse_time(at_text) if at_text else None
        if at_text is None:
            bad.append(("created_at", "", "empty; every row needs a date"))
        elif at is None or not 1970 <= at.year <= 2100:
            bad.append(("created_at", at_text, "not a date/time (expected e.g. 2025-03-02 14:41:00 or 2025/3/2)"))
        rating_text = cell(row, "rating")
        rating = None
        if rating_text is not None:
            try:
                number = float(rating_text)
            except ValueError:
                number = -1
            if not number.is_integer() or not 1 <= number <= 5:
                bad.append(("rating", rating_text, "not a whole number of stars from 1 to 5"))
            else:
                rating = int(number)
        kind_text = cell(row, "kind")
        kind = KIND_VALUES.get(kind_text.lower()) if kind_text else ("review" if rating_text else "complaint")
        if kind is None:
            bad.append(("kind", kind_text or "", "not complaint/投诉 or review/评价"))
        text = cell(row, "text")
        if text is not None and len(text) > TEXT_MAX:
            bad.append(("text", text[:20] + "…", f"longer than {TEXT_MAX} characters"))
        if text is None and rating_text is None:
            bad.append(("text", "", "neither a text nor a rating"))
        channel = cell(row, "channel")
        if channel is not None and len(channel) > 32:
            bad.append(("channel", channel[:40], "longer than 32 characters"))
        status_text = cell(row, "status")
        status = STATUS_VALUES.get(status_text.lower()) if status_text else "new"
        if status is None:
            bad.append(("status", status_text or "", "not new, in_progress or resolved (新, 处理中, 已解决)"))
        responded_text = cell(row, "responded_at")
        responded = parse_time(responded_text) if responded_text else None
        if responded_text and responded is None:
            bad.append(("responded_at", responded_text, "not a date/time"))
        if bad:
            problems.extend((line, c, v, r) for c, v, r in bad)
            continue
        good.append({"line": line, "customer": customer, "at": at, "kind": kind, "rating": rating, "text": text,
                     "channel": channel, "status": status, "responded": responded})

    url = settings.store_url
    with session_scope(url) as session:
        known = _customers(session, {g["customer"] for g in good}, source)
        rules = load_rules(session)
    ready: list[dict[str, Any]] = []
    for g in good:
        ids = known.get(g["customer"], [])
        if not ids:
            where = f" of source {source}" if source else ""
            problems.append((g["line"], "customer_id", g["customer"], f"no customer{where} with this id; import the "
                             "customers or orders first"))
        elif ids == [-1]:
            problems.append((g["line"], "customer_id", g["customer"], "this customer's personal data was erased on "
                             "request; no new feedback is kept"))
        elif len(ids) > 1:
            problems.append((g["line"], "customer_id", g["customer"], "customers of several sources have this id; "
                             "choose one with --source"))
        else:
            ready.append({**g, "customer_id": ids[0]})

    for start in range(0, len(ready), BATCH):
        with session_scope(url) as session:
            batch = ready[start:start + BATCH]
            keys = {id(g): row_key(cipher, customer_id=g["customer_id"], created_at=g["at"], kind=g["kind"],
                                   text=g["text"]) for g in batch}
            existing = set(session.scalars(select(Feedback.row_key).where(Feedback.row_key.in_(set(keys.values())))))
            for g in batch:
                key = keys[id(g)]
                if key in existing:
                    report.unchanged += 1
                    continue
                existing.add(key)
                add_feedback(session, cipher, customer_id=g["customer_id"], kind=g["kind"], text=g["text"],
                             created_at=g["at"], channel=g["channel"], rating=g["rating"], source="import",
                             rules=rules, status=g["status"], first_response_at=g["responded"],
                             import_run_id=report.run_id, key=key)
                report.inserted += 1
    report.rejected = len({p[0] for p in problems})
    if problems or rejects is not None:
        out = rejects or default_rejects_dir(settings) / f"feedback-{report.run_id}-{path.stem}.csv"
        problems.sort(key=lambda p: (p[0], p[1]))
        try:
            _write_rejects(out, path, problems)
        except OSError as exc:
            raise FileProblem(f"cannot write the rejects file {out}: {exc.strerror or exc}; choose another path "
                              "with --rejects") from None
        report.rejects_path = str(out)


__all__ = ["ALIASES", "FeedbackImportReport", "import_feedback", "parse_time"]
