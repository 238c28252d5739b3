"""The "agent" group: exactly the permissions a Microsoft agent needs in Django admin.

View organizations, their statuses and status history, and memberships;
add and change (apply, extend, revoke) overrides and view their audit;
add, change and view the catalog (credentials, centers, competencies,
options, requirements, metrics, membership plans, benefits). Nothing else:
no user editing, no deleting (history and overrides are never deleted;
a catalog entry removed would take its history with it).

Running it again sets the group's permissions to exactly this list.
"""

from django.db import migrations

AGENT_GROUP = "agent"
AGENT_PERMISSIONS = {
    "competencies": [
        "view_organization",
        "view_competencystatus",
        "view_statuschange",
        "add_override",
        "change_override",
        "view_override",
        "view_overrideaudit",
        *(f"{action}_{model}" for model in (
            "credential", "centerofexcellence", "competency", "attainmentoption", "requirement", "metric"
        ) for action in ("add", "change", "view")),
    ],
    "memberships": [
        "view_membership",
        *(f"{action}_{model}" for model in ("membershipplan", "benefit") for action in ("add", "change", "view")),
    ],
}


def agent_group_sync(apps, schema_editor=None):
    """Create the group (and, on a fresh database, the permissions Django creates after migrating)."""
    from django.contrib.auth.management import create_permissions

    for label in AGENT_PERMISSIONS:
        config = apps.get_app_config(label)
        if getattr(config, "models_module", None) is None:
            config.models_module = True  # historical app configs have none, and create_permissions skips those
        create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _created = Group.objects.get_or_create(name=AGENT_GROUP)
    wanted = [
        Permission.objects.get(content_type__app_label=label, codename=codename)
        for label, codenames in AGENT_PERMISSIONS.items()
        for codename in codenames
    ]
    group.permissions.set(wanted)


def agent_group_remove(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=AGENT_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("competencies", "0002_alter_statuschange_cause"),
        ("memberships", "0001_initial"),
    ]

    operations = [migrations.RunPython(agent_group_sync, agent_group_remove)]
