"""A status change's cause as data: `cause_params` replaces the English sentence of `cause_detail`.

The sentences were all made from a fixed set of English templates, so each
one is read back ONCE, here, into the parameters that made it (ISO days,
level codes, credential codes, amounts as decimal strings with their unit).
A sentence that matches none of them is kept whole as `{"kind": "text"}`.
The templates and the expressions below are frozen copies: this migration
must read tomorrow what was written yesterday, whatever the code becomes.

Rows whose sentence says an override was extended ("Gold override now until
…") were recorded with the cause `override_applied`, for want of a better
one: they get the cause `override_extended` that now exists.
"""

import datetime
import re
from decimal import Decimal, InvalidOperation

from django.db import migrations, models

SENTENCES = {
    "moved": "%(name)s associated with another organization on %(day)s",
    "left": "%(name)s left on %(day)s",
    "associated": "%(name)s associated on %(day)s",
    "retired": "%(code)s no longer accepted from %(day)s (held by %(name)s)",
    "expired": "%(name)s's %(code)s expired on %(day)s",
    "earned": "%(name)s earned %(code)s on %(day)s",
    "metric_short": "%(metric)s in the %(days)s-day window: %(have)s, short of %(need)s",
    "metric_reached": "%(metric)s in the %(days)s-day window: %(have)s, reached %(need)s",
    "override_applied": "%(level)s override from %(start)s until %(end)s",
    "override_until": "%(level)s override until %(end)s",
    "override_extended": "%(level)s override now until %(end)s",
    "override_revoked": "%(level)s override revoked on %(day)s",
    "override_expired": "%(level)s override expired on %(day)s",
    "override_gone": "the override holding the level up is gone",
    "catalog": "the competency catalog changed on %(day)s",
    "unexplained": "no association, credential or metric change found since %(day)s",
}
LEVELS = {"Silver": "silver", "Gold": "gold", "None": "none"}
_DAY = r"\d{4}-\d{2}-\d{2}"
_PLACEHOLDERS = {
    "name": r".+?",
    "code": r"\S+",
    "metric": r".+?",
    "days": r"\d+",
    "have": r".+?",
    "need": r".+",
    "day": _DAY,
    "start": _DAY,
    "end": _DAY,
    "level": "|".join(LEVELS),
}
_AMOUNT = re.compile(r"(?:(?P<currency>USD) )?(?P<number>\d[\d,]*(?:\.\d+)?)(?: (?P<unit>.+))?")


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"%\((\w+)\)s", template)
    return re.compile(
        "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_PLACEHOLDERS[part]})" for i, part in enumerate(parts))
    )


_PATTERNS = [(kind, _pattern(template)) for kind, template in SENTENCES.items()]


def _amount(text: str) -> tuple[str, str]:
    """ "USD 6,000" -> ("6000", "USD"); "12 people" -> ("12", "people")."""
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise ValueError(text)
    number = Decimal(match["number"].replace(",", ""))
    text = format(number.to_integral_value() if number == number.to_integral_value() else number.normalize(), "f")
    return text, match["currency"] or match["unit"] or ""


def _values(found: dict) -> dict:
    values = {}
    for name, text in found.items():
        if name in ("day", "start", "end"):
            values[name] = datetime.date.fromisoformat(text).isoformat()
        elif name == "level":
            values[name] = LEVELS[text]
        elif name == "days":
            values[name] = int(text)
        elif name in ("have", "need"):
            values[name], unit = _amount(text)
            if values.setdefault("unit", unit) != unit:
                raise ValueError(f"{unit} is not {values['unit']}")
        else:
            values[name] = text
    return values


def params_from_sentence(detail: str) -> dict:
    """The parameters an English cause sentence was made from; `{"kind": "text", "text": detail}` when none fits."""
    if not detail:
        return {}
    for kind, pattern in _PATTERNS:
        match = pattern.fullmatch(detail)
        if match is None:
            continue
        try:
            return {"kind": kind, **_values(match.groupdict())}
        except (KeyError, ValueError, InvalidOperation):
            continue
    return {"kind": "text", "text": detail}


def _number(value: str) -> str:
    number = Decimal(value)
    return f"{int(number):,}" if number == number.to_integral_value() else f"{number:,.2f}"


def sentence_from_params(params: dict) -> str:
    """The English sentence again, as it was stored before (for going back)."""
    if not params:
        return ""
    template = SENTENCES.get(params.get("kind"))
    if template is None:
        return str(params.get("text", ""))[:500]
    english = {code: label for label, code in LEVELS.items()}
    unit = params.get("unit", "")
    values = {}
    for name, value in params.items():
        if name == "level":
            values[name] = english[value]
        elif name in ("have", "need"):
            number = _number(value)
            values[name] = f"USD {number}" if unit == "USD" else f"{number} {unit}" if unit else number
        else:
            values[name] = value
    return (template % values)[:500]


def converted(cause: str, detail: str) -> tuple[str, dict]:
    """A history row's cause and sentence as the cause and its parameters (an extension gets its own cause)."""
    params = params_from_sentence(detail)
    return ("override_extended" if params.get("kind") == "override_extended" else cause), params


def forwards(apps, schema_editor):
    StatusChange = apps.get_model("competencies", "StatusChange")
    read: dict[tuple[str, str], tuple[str, dict]] = {}  # a history repeats a few sentences: each is read once
    batch = []
    for change in StatusChange.objects.exclude(cause_detail="").only("pk", "cause", "cause_detail").iterator(2000):
        key = (change.cause, change.cause_detail)
        if key not in read:
            read[key] = converted(*key)
        change.cause, change.cause_params = read[key]
        batch.append(change)
        if len(batch) == 1000:
            StatusChange.objects.bulk_update(batch, ["cause", "cause_params"])
            batch = []
    StatusChange.objects.bulk_update(batch, ["cause", "cause_params"])


def backwards(apps, schema_editor):
    StatusChange = apps.get_model("competencies", "StatusChange")
    batch = []
    for change in StatusChange.objects.exclude(cause_params={}).only("pk", "cause", "cause_params").iterator(2000):
        change.cause_detail = sentence_from_params(change.cause_params)
        if change.cause == "override_extended":
            change.cause = "override_applied"
        batch.append(change)
        if len(batch) == 1000:
            StatusChange.objects.bulk_update(batch, ["cause", "cause_detail"])
            batch = []
    StatusChange.objects.bulk_update(batch, ["cause", "cause_detail"])


class Migration(migrations.Migration):

    dependencies = [
        ("competencies", "0005_invitations_and_removals"),
    ]

    operations = [
        migrations.AddField(
            model_name="statuschange",
            name="cause_params",
            field=models.JSONField(blank=True, default=dict, verbose_name="cause parameters"),
        ),
        migrations.AlterField(
            model_name="statuschange",
            name="cause",
            field=models.CharField(
                choices=[
                    ("association_started", "Association started"),
                    ("association_ended", "Association ended"),
                    ("credential_earned", "Credential earned"),
                    ("credential_expired", "Credential expired"),
                    ("credential_retired", "Retired credential no longer accepted"),
                    ("metric_changed", "Metric changed"),
                    ("override_applied", "Override applied"),
                    ("override_extended", "Override extended"),
                    ("override_expired", "Override expired"),
                    ("override_revoked", "Override revoked"),
                    ("catalog_changed", "Catalog changed"),
                    ("first_evaluation", "First evaluation"),
                    ("other", "Other change"),
                ],
                max_length=40,
                verbose_name="cause",
            ),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
        migrations.RemoveField(model_name="statuschange", name="cause_detail"),
    ]
