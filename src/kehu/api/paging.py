"""Pagination and sorting conventions shared by every list of the API.

* ``page`` (from 1, default 1) and ``per_page`` (1–200, default 50); the body is ``{items, page, per_page, total}``.
  A page past the end is an empty ``items`` list with the real ``total``.
* ``sort=field`` ascending, ``sort=-field`` descending, from the fields each list names; ties are always broken by
  the row id in the same direction, and missing values (NULL) come last either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from kehu.api.schemas import Page

MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50
#: The largest page number accepted (keeps OFFSET within every engine's integer range).
MAX_PAGE = 1_000_000

T = TypeVar("T")


@dataclass(frozen=True)
class PageParams:
    """A page request: ``page`` from 1, ``per_page`` from 1 to :data:`MAX_PER_PAGE`."""

    page: int
    per_page: int

    @property
    def offset(self) -> int:
        """Rows to skip."""
        return (self.page - 1) * self.per_page


def page_params(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="page number, from 1")] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="items per page, 1–200")] = DEFAULT_PER_PAGE,
) -> PageParams:
    """The ``page`` and ``per_page`` query parameters."""
    return PageParams(page=page, per_page=per_page)


Paging = Annotated[PageParams, Depends(page_params)]


def sort_options(fields: Sequence[str]) -> list[str]:
    """Every accepted value of a ``sort`` parameter: each field and its ``-field`` (descending)."""
    return [v for f in fields for v in (f, f"-{f}")]


def order_by(sort: str, columns: dict[str, Any], tie: Any) -> list[ColumnElement[Any]]:  # noqa: ANN401
    """ORDER BY terms for ``sort`` (``field`` or ``-field``, a key of ``columns``), NULLs last, ties by ``tie``."""
    descending = sort.startswith("-")
    column = columns[sort.lstrip("-")]
    key = column.desc() if descending else column.asc()
    return [key.nulls_last(), tie.desc() if descending else tie.asc()]


def paginate(session: Session, stmt: Select, params: PageParams, convert: Callable[[Any], T],
             *, scalars: bool = True) -> Page[T]:
    """Run ``stmt`` (already filtered and ordered) for one page and count all its rows.

    ``scalars``: the rows are single entities (``select(Customer)``); otherwise tuples (``select(A, B)``).
    """
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    page_stmt = stmt.limit(params.per_page).offset(params.offset)
    rows = list(session.scalars(page_stmt)) if scalars else list(session.execute(page_stmt).all())
    return Page[T](items=[convert(r) for r in rows], page=params.page, per_page=params.per_page, total=int(total))
