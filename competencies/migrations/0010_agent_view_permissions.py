"""The "agent" group also views what an organization bought, redeemed and was told, and its people.

Read-only pages in Django admin (issue 14): employees with their associations
and credentials, invitations, orders, redemptions, referrals, notifications
and their emails. Added to the permissions of migration 0003; nothing is
removed, and no add/change/delete is granted.
"""

from django.db import migrations

AGENT_VIEW_PERMISSIONS = {
    "competencies": ["view_employee", "view_association", "view_earnedcredential", "view_invitation"],
    "memberships": ["view_order", "view_redemption", "view_referral", "view_notification", "view_outboundemail"],
}


def agent_views_add(apps, schema_editor=None):
    from django.contrib.auth.management import create_permissions

    for label in AGENT_VIEW_PERMISSIONS:
        config = apps.get_app_config(label)
        if getattr(config, "models_module", None) is None:
            config.models_module = True  # historical app configs have none, and create_permissions skips those
        create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _created = Group.objects.get_or_create(name="agent")
    group.permissions.add(*(
        Permission.objects.get(content_type__app_label=label, codename=codename)
        for label, codenames in AGENT_VIEW_PERMISSIONS.items()
        for codename in codenames
    ))


def agent_views_remove(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name="agent"):
        group.permissions.remove(*Permission.objects.filter(
            content_type__app_label__in=list(AGENT_VIEW_PERMISSIONS),
            codename__in=[c for codenames in AGENT_VIEW_PERMISSIONS.values() for c in codenames],
        ))


class Migration(migrations.Migration):
    dependencies = [
        ("competencies", "0009_catalog_names"),
        ("memberships", "0006_limits_checkout_tokens"),
    ]

    operations = [migrations.RunPython(agent_views_add, agent_views_remove)]
