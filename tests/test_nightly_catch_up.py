"""Beat's catch-up after the night: whatever a lost message or a dead worker left undone runs, and nothing else changes."""

import pytest
from django.utils import timezone

from memberships.models import OutboundEmail
from partnercenter import night as nightly
from partnercenter import tasks as night_tasks

from .factories import OrganizationFactory
from .test_nightly import D, in_rollback, snapshot


@pytest.fixture(autouse=True)
def small_batches(settings):
    settings.EVALUATION_BATCH_SIZE = 2  # seven organizations: four ranges


def catch_up(capture):
    with capture(execute=True):
        return night_tasks.nightly_catch_up.delay(D.isoformat()).get()


def test_after_a_finished_night_the_catch_up_changes_and_sends_nothing(db, django_capture_on_commit_callbacks):
    def night_then_catch_up():
        nightly.run_nightly(day=D, now=timezone.now())  # the emails sent too
        before = snapshot()
        result = catch_up(django_capture_on_commit_callbacks)
        assert result == {"day": "2026-11-20", "overrides_expired": 0, "ranges": 4, "ranges_evaluated": 0}
        assert snapshot() == before

    in_rollback(night_then_catch_up)


@pytest.mark.parametrize("lost", ["evaluate", "forecast", "notify", "remind"])
def test_a_step_lost_for_one_range_is_run_by_the_catch_up(db, django_capture_on_commit_callbacks, lost):
    clean = in_rollback(lambda: nightly.run_nightly(day=D))

    def night_with_a_step_lost():
        nightly.expire_overrides(day=D)
        ranges = list(nightly.organization_ranges())
        for number, (first_id, last_id) in enumerate(ranges):
            steps = list(nightly.RANGE_STEPS)
            if number == 1:  # the second range's chain broke at `lost`: that step and the ones after never ran
                steps = steps[: steps.index(lost)]
            for step in steps:
                getattr(nightly, f"{step}_range")(first_id=first_id, last_id=last_id, day=D)
        assert snapshot() != clean
        result = catch_up(django_capture_on_commit_callbacks)
        assert result["ranges_evaluated"] == (1 if lost == "evaluate" else 0)
        nightly.run_nightly(day=D, now=None)  # and a second look finds nothing more to do
        assert OutboundEmail.objects.exclude(status="sent").count() == 0

    caught_up = in_rollback(night_with_a_step_lost)
    assert caught_up == {**clean, "emails": [(*e[:3], "sent") for e in clean["emails"]]}


def test_only_the_ranges_holding_an_organization_not_evaluated_are_evaluated_again(db):
    orgs = [OrganizationFactory() for _ in range(5)]
    ranges = list(nightly.organization_ranges(size=2))
    assert nightly.ranges_holding({orgs[2].pk}, ranges) == {ranges[1]}
    assert nightly.ranges_holding({orgs[4].pk + 10}, ranges) == {ranges[2]}  # created since: the open range
    assert nightly.ranges_holding(set(), ranges) == set()
