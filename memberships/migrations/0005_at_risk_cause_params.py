"""At-risk notifications keep each item's cause as parameters (`cause_params`), no longer as an English sentence.

An open notification is shown again on every page until it clears, so the
items it already holds are converted with the same reading of the old
sentences as the status history (competencies' migration 0006).
"""

import importlib

from django.db import migrations

_causes = importlib.import_module("competencies.migrations.0006_cause_params")


def forwards(apps, schema_editor):
    Notification = apps.get_model("memberships", "Notification")
    for notification in Notification.objects.filter(kind="at_risk").iterator(1000):
        items = notification.payload.get("items", [])
        if not any("cause_detail" in item for item in items):
            continue
        for item in items:
            if "cause_detail" in item:
                item["cause_params"] = _causes.params_from_sentence(item.pop("cause_detail"))
        notification.save(update_fields=["payload"])


def backwards(apps, schema_editor):
    Notification = apps.get_model("memberships", "Notification")
    for notification in Notification.objects.filter(kind="at_risk").iterator(1000):
        items = notification.payload.get("items", [])
        if not any("cause_params" in item for item in items):
            continue
        for item in items:
            if "cause_params" in item:
                item["cause_detail"] = _causes.sentence_from_params(item.pop("cause_params"))
        notification.save(update_fields=["payload"])


class Migration(migrations.Migration):

    dependencies = [
        ("competencies", "0006_cause_params"),
        ("memberships", "0004_verbose_names"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
