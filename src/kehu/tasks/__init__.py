"""Agents' tasks (call-backs, follow-ups) linked to a customer and optionally to a feedback item or a survey
response; see :mod:`kehu.tasks.service`."""

from kehu.tasks.service import (
    KINDS,
    OPEN_STATUSES,
    OUTCOME_FIELD,
    STATUSES,
    TaskFilter,
    create_task,
    default_due,
    get_task,
    is_overdue,
    list_tasks,
    scrub_pii,
    task_outcome,
    update_task,
)

__all__ = [
    "KINDS",
    "OPEN_STATUSES",
    "OUTCOME_FIELD",
    "STATUSES",
    "TaskFilter",
    "create_task",
    "default_due",
    "get_task",
    "is_overdue",
    "list_tasks",
    "scrub_pii",
    "task_outcome",
    "update_task",
]
