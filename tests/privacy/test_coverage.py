"""Every part's personal data is covered by the data-subject requests and the key rotation.

These tests walk the store's tables (``kehu.store.Base.metadata``), so a part that adds a ciphertext column or a table
linked to customers fails the suite until rotation, erasure and export cover it:

* every ``*_enc`` column is in :data:`kehu.privacy.rotate.ENCRYPTED_COLUMNS` (rotated, and cleared on erasure);
* every table with a ``customer_id`` column is in :data:`kehu.privacy.subject.EXPORTED_TABLES` (exported) or in
  :data:`kehu.privacy.subject.NOT_EXPORTED` (left out, with the reason).
"""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import Integer

from kehu.privacy.rotate import ENCRYPTED_COLUMNS, KEYED_COLUMNS, encrypted_tables
from kehu.privacy.subject import EXPORTED_TABLES, NOT_EXPORTED, SURVEY_COMMENT_FIELD
from kehu.store import Base, Customer

CIPHERTEXT_SUFFIX = "_enc"


def _rotated() -> set[tuple[str, str]]:
    return {(model.__table__.name, column) for model, column, _ in ENCRYPTED_COLUMNS}  # type: ignore[attr-defined]


def test_every_ciphertext_column_is_rotated() -> None:
    found = {(table.name, column.name) for table in Base.metadata.tables.values() for column in table.columns
             if column.name.endswith(CIPHERTEXT_SUFFIX)}
    missing = sorted(found - _rotated())
    assert not missing, (
        f"ciphertext columns {missing} are not in kehu.privacy.rotate.ENCRYPTED_COLUMNS: a key rotation would leave "
        "them under the old key (unreadable afterwards) and erasure would not clear them. Add (model, column, "
        "encryption field name) to the part's own tuple and to ENCRYPTED_COLUMNS")
    assert len(ENCRYPTED_COLUMNS) == len(_rotated()), "a column is listed twice in ENCRYPTED_COLUMNS"


def test_the_rotation_table_names_real_columns_that_rotation_and_erasure_can_reach() -> None:
    for model, column, field_name in ENCRYPTED_COLUMNS:
        table = model.__table__  # type: ignore[attr-defined]
        assert column in table.c, f"{table.name}.{column} does not exist"
        assert field_name and isinstance(field_name, str)
        # Rotation pages through the rows by an integer ``id``; erasure finds a customer's rows by ``customer_id``.
        assert "id" in table.c and isinstance(table.c.id.type, Integer), f"{table.name} has no integer id"
        if model is not Customer:
            assert "customer_id" in table.c, (
                f"{table.name}.{column} is encrypted but the table has no customer_id: erase_customer cannot find "
                "the rows of a customer; clear them in the part's own erasure and say so here")
    for model, columns in KEYED_COLUMNS.items():
        assert model in encrypted_tables(), f"{model.__table__.name} has keyed columns but no ciphertext"
        assert all(c in model.__table__.c for c in columns)  # type: ignore[attr-defined]


def test_field_names_match_the_parts() -> None:
    """The encryption field names are the ones the parts encrypt with (the associated data must match)."""
    from kehu.feedback.service import TEXT_FIELD
    from kehu.privacy.subject import CUSTOMER_FIELDS, NOTE_FIELD
    from kehu.surveys import COMMENT_FIELD
    from kehu.tasks import OUTCOME_FIELD

    fields = {(model.__table__.name, column): f for model, column, f in ENCRYPTED_COLUMNS}  # type: ignore[attr-defined]
    assert fields == {**{("customers", c): f for c, f in CUSTOMER_FIELDS.items()},
                      ("customer_notes", "body_enc"): NOTE_FIELD, ("feedback", "text_enc"): TEXT_FIELD,
                      ("tasks", "outcome_enc"): OUTCOME_FIELD, ("survey_responses", "comment_enc"): COMMENT_FIELD}
    assert SURVEY_COMMENT_FIELD == COMMENT_FIELD


def test_every_table_linked_to_a_customer_is_in_the_export() -> None:
    linked = {table.name for table in Base.metadata.tables.values() if "customer_id" in table.c}
    missing = sorted(linked - set(EXPORTED_TABLES) - set(NOT_EXPORTED))
    assert not missing, (
        f"tables {missing} hold a customer_id but kehu.privacy.subject.export_customer does not export them: add "
        "them to the export (and EXPORTED_TABLES), or to NOT_EXPORTED with the reason they hold nothing personal")
    stale = sorted((set(EXPORTED_TABLES) | set(NOT_EXPORTED)) - linked)
    assert not stale, f"EXPORTED_TABLES/NOT_EXPORTED name {stale}, which are not tables with a customer_id"
    assert not set(EXPORTED_TABLES) & set(NOT_EXPORTED)
    assert all(reason.strip() for reason in NOT_EXPORTED.values())


def test_the_subject_module_stays_light() -> None:
    """``kehu.privacy.subject`` is imported by quick CLI commands (``find_customer``): it imports the heavy parts
    (feedback, surveys, analytics) only when an export or erasure runs."""
    code = ("import sys, kehu.privacy.subject; "
            "print(sorted(m for m in ('kehu.feedback', 'kehu.surveys', 'kehu.analytics', 'kehu.campaigns') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
