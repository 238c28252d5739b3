"""The cause of a status change: stored as data (competencies/causes.py), said in the reader's language when shown,
and the old English sentences read back once by the migration that replaced them."""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.utils import translation

from competencies.causes import cause_params_of, cause_words
from competencies.models import Association, StatusChange
from competencies.statuses import statuses_refresh
from memberships.models import Notification

from .common import AZURE, DAY, D
from .factories import OrganizationFactory, build_competency, certified_employee

migration = importlib.import_module("competencies.migrations.0006_cause_params")
notifications_migration = importlib.import_module("memberships.migrations.0005_at_risk_cause_params")


def said(params, language):
    with translation.override(language):
        return cause_words(params)


# --- stored as data ------------------------------------------------------------------------------------------


def test_a_stored_change_keeps_ids_days_and_codes_never_a_sentence(db):
    cloud = build_competency("cloud-platform", silver=[[{"kind": "certified_people", "count": 1, "any_of": AZURE}]])
    org = OrganizationFactory()
    jane = certified_employee(org, "70-533", name="Jane Doe")
    statuses_refresh(organization_ids=[org.pk], day=D - DAY)
    Association.objects.filter(employee=jane).update(ends_on=D)
    statuses_refresh(organization_ids=[org.pk], day=D)

    change = StatusChange.objects.filter(organization=org, competency=cloud).last()
    assert (change.cause, change.cause_params) == (
        "association_ended", {"kind": "left", "employee_id": jane.pk, "name": "Jane Doe", "day": "2026-11-20"}
    )
    assert "cause_detail" not in {f.name for f in StatusChange._meta.get_fields()}


def test_the_name_stays_when_the_employee_is_deleted(db):
    cloud = build_competency("cloud-platform", silver=[[{"kind": "certified_people", "count": 1, "any_of": AZURE}]])
    org = OrganizationFactory()
    jane = certified_employee(org, "70-533", name="Jane Doe")
    statuses_refresh(organization_ids=[org.pk], day=D - DAY)
    Association.objects.filter(employee=jane).update(ends_on=D)
    statuses_refresh(organization_ids=[org.pk], day=D)
    jane.delete()
    change = StatusChange.objects.get(organization=org, competency=cloud, day=D)
    assert said(change.cause_params, "en") == "Jane Doe left on Nov. 20, 2026"


def test_an_amount_is_kept_the_same_whatever_the_database_summed_it_as():
    stored = [
        cause_params_of("metric_short", metric="Azure consumption", days=365, have=have, need=15000, unit="USD")["have"]
        for have in (Decimal("6000.00"), Decimal("6000"), 6000)
    ]
    assert stored == ["6000", "6000", "6000"]
    assert cause_params_of("metric_short", metric="m", days=1, have=Decimal("1234.50"), need=1, unit="")["have"] == "1234.5"


def test_a_cause_missing_one_of_its_values_is_refused_when_written():
    with pytest.raises(TypeError, match="needs day"):
        cause_params_of("left", employee_id=7, name="Jane Doe")


# --- said in the reader's language ---------------------------------------------------------------------------

LEFT = {"kind": "left", "employee_id": 7, "name": "Jane Doe", "day": "2026-11-20"}
SHORT = {"kind": "metric_short", "metric": "Azure consumption", "days": 365, "have": "6000", "need": "15000", "unit": "USD"}
EXTENDED = {"kind": "override_extended", "override_id": 3, "level": "gold", "end": "2027-05-20"}


@pytest.mark.parametrize(
    "params, english, simplified, traditional",
    [
        (LEFT, "Jane Doe left on Nov. 20, 2026", "Jane Doe 于 2026年11月20日 离开", "Jane Doe 於 2026年11月20日 離開"),
        (
            SHORT,
            "Azure consumption in the 365-day window: USD 6,000, short of USD 15,000",
            "365 天内的 Azure consumption：6,000 美元，未达到 15,000 美元",
            "365 天內的 Azure consumption：6,000 美元，未達 15,000 美元",
        ),
        (
            EXTENDED,
            "Gold override now until May 20, 2027",
            "金牌成就替代现有效期至 2027年5月20日",
            "金級成就覆寫現有效至 2027年5月20日",
        ),
    ],
)
def test_the_same_cause_is_said_in_english_and_both_chinese_scripts(params, english, simplified, traditional):
    assert said(params, "en") == english
    assert said(params, "zh-hans") == simplified
    assert said(params, "zh-hant") == traditional


def test_no_cause_says_nothing_and_a_kept_sentence_is_shown_as_stored():
    assert said({}, "zh-hans") == ""
    assert said({"kind": "text", "text": "catalog 2026-11 loaded by hand"}, "zh-hans") == "catalog 2026-11 loaded by hand"


# --- the migration that read the old sentences back -----------------------------------------------------------


@pytest.mark.parametrize(
    "sentence, params",
    [
        ("", {}),
        ("Jane Doe associated with another organization on 2026-11-20",
         {"kind": "moved", "name": "Jane Doe", "day": "2026-11-20"}),
        ("Jane Doe associated on 2026-11-20", {"kind": "associated", "name": "Jane Doe", "day": "2026-11-20"}),
        ("O'Neil's 70-533 expired on 2026-11-20",
         {"kind": "expired", "name": "O'Neil", "code": "70-533", "day": "2026-11-20"}),
        ("70-533 no longer accepted from 2026-11-20 (held by Jane Doe)",
         {"kind": "retired", "code": "70-533", "day": "2026-11-20", "name": "Jane Doe"}),
        ("Azure consumption in the 365-day window: USD 6,000, short of USD 15,000", SHORT | {"kind": "metric_short"}),
        ("Sales in the 90-day window: 1,234.50 deals, reached 1,000 deals",
         {"kind": "metric_reached", "metric": "Sales", "days": 90, "have": "1234.5", "need": "1000", "unit": "deals"}),
        ("Gold override from 2026-11-20 until 2027-02-20",
         {"kind": "override_applied", "level": "gold", "start": "2026-11-20", "end": "2027-02-20"}),
        ("Silver override now until 2027-05-20", {"kind": "override_extended", "level": "silver", "end": "2027-05-20"}),
        ("the override holding the level up is gone", {"kind": "override_gone"}),
        ("catalog 2026-11 loaded", {"kind": "text", "text": "catalog 2026-11 loaded"}),
        ("Jane Doe left on 2026-02-30", {"kind": "text", "text": "Jane Doe left on 2026-02-30"}),
    ],
)
def test_the_migration_reads_an_old_sentence_into_parameters(sentence, params):
    assert migration.params_from_sentence(sentence) == params
    if params and params["kind"] != "text":
        assert migration.sentence_from_params(params) == sentence  # and back, for going back


def test_the_migration_records_an_old_extension_with_its_own_cause():
    assert migration.converted("override_applied", "Gold override now until 2027-05-20") == (
        "override_extended", {"kind": "override_extended", "level": "gold", "end": "2027-05-20"}
    )
    assert migration.converted("override_applied", "Gold override until 2027-05-20")[0] == "override_applied"


def test_open_at_risk_notifications_get_their_items_causes_as_parameters(db):
    org = OrganizationFactory()
    old = {"items": [{"competency": "Cloud Platform", "cause_detail": "Jane Doe left on 2026-11-20"}]}
    notification = Notification.objects.create(
        organization=org, kind=Notification.Kind.AT_RISK, key="at_risk:test", raised_on=D, payload=old
    )
    notifications_migration.forwards(apps, None)
    notification.refresh_from_db()
    assert notification.payload["items"] == [
        {"competency": "Cloud Platform", "cause_params": {"kind": "left", "name": "Jane Doe", "day": "2026-11-20"}}
    ]
