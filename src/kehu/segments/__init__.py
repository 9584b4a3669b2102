"""User segments and profile tags (自定义分群 / 客户画像标签): a small SQL-like rule language over the customer
feature table (:mod:`kehu.segments.rules`), segments stored with their members in every classification snapshot
(:mod:`kehu.segments.service`), default profile tags (:mod:`kehu.segments.tags`) and the behaviour traits they read
(:mod:`kehu.segments.traits`), and masked exports (:mod:`kehu.segments.export`).

Other parts use :func:`list_segments`, :func:`segment_member_ids` and :func:`customer_segments`; ``kehu classify``
ends with :func:`refresh_segments`.
"""

from kehu.segments.columns import COLUMN_LIST, COLUMNS, ColumnSpec
from kehu.segments.rules import CompiledRule, RuleContext, RuleError, check_rule, compile_rule, member_query
from kehu.segments.service import (
    Migration,
    Preview,
    RefreshReport,
    add_segment,
    archive_segment,
    customer_segments,
    get_segment,
    list_segments,
    migration,
    preview,
    refresh_segments,
    segment_member_ids,
    sizes,
    update_segment,
)
from kehu.segments.tags import DEFAULT_TAGS

__all__ = [
    "COLUMNS",
    "COLUMN_LIST",
    "DEFAULT_TAGS",
    "ColumnSpec",
    "CompiledRule",
    "Migration",
    "Preview",
    "RefreshReport",
    "RuleContext",
    "RuleError",
    "add_segment",
    "archive_segment",
    "check_rule",
    "compile_rule",
    "customer_segments",
    "get_segment",
    "list_segments",
    "member_query",
    "migration",
    "preview",
    "refresh_segments",
    "segment_member_ids",
    "sizes",
    "update_segment",
]
