"""Parameter types shared by the API routes: store ids, class codes (kept equal to :mod:`kehu.analytics.labels` by a
test), and ``?reveal=`` field lists."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query

from kehu.api.present import REVEALABLE
from kehu.errors import InvalidInput

#: The largest store id accepted in a path (ids are 32-bit integers on PostgreSQL).
MAX_ID = 2**31 - 1

CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="store id of the customer")]
OrderId = Annotated[int, Path(ge=1, le=MAX_ID, description="store id of the order")]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="id of the import run")]
SnapshotId = Annotated[int, Path(ge=1, le=MAX_ID, description="id of the classification snapshot")]
KeyId = Annotated[int, Path(ge=1, le=MAX_ID, description="id of the API key")]

RfmClass = Literal[
    "important_value", "important_development", "important_retention", "important_winback",
    "general_value", "general_development", "general_retention", "general_winback",
]
RfmGroup = Literal[
    "champions", "loyal", "potential_loyalist", "new", "promising", "needs_attention", "about_to_sleep", "at_risk",
    "cannot_lose", "hibernating", "prospect",
]
LifecycleStage = Literal["prospect", "churned", "won_back", "new", "at_risk", "active"]
ClvTier = Literal["high", "medium", "low"]
Cluster = Annotated[int | None, Query(ge=0, le=32767, description="cluster number")]

RevealParam = Annotated[
    list[str] | None,
    Query(description="personal fields to show in plain text (needs the permission reveal_pii; audited): "
                      "name, phone, email, address, id_number; repeat the parameter or separate with commas",
          max_length=5),
]


def reveal_fields(values: list[str] | None) -> list[str]:
    """The distinct field names of ``?reveal=`` (repeated or comma-separated); :class:`InvalidInput` for an unknown
    one."""
    fields: list[str] = []
    for value in values or []:
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            if name not in REVEALABLE:
                raise InvalidInput(f"reveal: unknown field {name[:40]!r}; use one of {', '.join(REVEALABLE)}")
            if name not in fields:
                fields.append(name)
    return fields
