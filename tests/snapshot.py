"""The whole database as plain values, to assert that a refused request or a bad input changed nothing.

Every model's rows (many-to-many tables included) in primary-key order.
Left out: what a request may write without changing anything of the
product's (sessions, sign-in attempts counted by django-axes, admin's
log of actions).
"""

from django.apps import apps

NOT_PRODUCT_DATA = {
    "sessions.session",
    "admin.logentry",
    "axes.accessattempt",
    "axes.accessattemptexpiration",
    "axes.accesslog",
    "axes.accessfailurelog",
}


def product_models():
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.label_lower not in NOT_PRODUCT_DATA]


def database_snapshot() -> dict[str, list[tuple]]:
    return {
        model._meta.label_lower: list(model._base_manager.order_by("pk").values_list())
        for model in product_models()
    }


def changes(before: dict, after: dict) -> dict[str, str]:
    """Which tables differ, in words short enough for an assertion message."""
    found = {}
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label, []), after.get(label, [])
        if old != new:
            gone = [row for row in old if row not in new]
            added = [row for row in new if row not in old]
            found[label] = f"{len(gone)} rows gone or changed, {len(added)} rows new or changed: {added[:2]!r}"
    return found
