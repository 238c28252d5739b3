"""Celery tasks: thin. Ids and ISO dates in, a service called, nothing else.

Each task is idempotent (the services are): a retried or duplicated task
changes nothing the second time.
"""

import datetime

from celery import shared_task

from . import services


@shared_task(name="competencies.tasks.reevaluate_organizations")
def reevaluate_organizations(
    organization_ids: list[int], day: str, cause: str | None = None, cause_detail: str = ""
) -> dict:
    """Re-evaluate organizations as of `day` (YYYY-MM-DD), recording changes with `cause` or an inferred one."""
    result = services.statuses_refresh(
        organization_ids=organization_ids,
        day=datetime.date.fromisoformat(day),
        cause=cause,
        cause_detail=cause_detail,
    )
    return vars(result)
