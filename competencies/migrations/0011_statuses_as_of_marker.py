"""One marker per organization says how far evaluation has got; statuses are stored only for pairs that had a level.

`Organization.statuses_as_of` replaces the `as_of` each status carried (a
night rewrote every organization × competency row to move it on). Existing
data: each organization's marker is the earliest `as_of` of its statuses (a
catch-up evaluates again whatever was behind), and a status at level none
with no history (a pair that has never had a level) is dropped: a missing
status is level none.
"""

from django.db import migrations, models
from django.db.models import Exists, Min, OuterRef, Q, Subquery


def markers_set_and_none_dropped(apps, schema_editor):
    Organization = apps.get_model("competencies", "Organization")
    CompetencyStatus = apps.get_model("competencies", "CompetencyStatus")
    StatusChange = apps.get_model("competencies", "StatusChange")
    earliest = (
        CompetencyStatus.objects.filter(organization_id=OuterRef("pk"))
        .order_by()
        .values("organization_id")
        .annotate(day=Min("as_of"))
        .values("day")
    )
    Organization.objects.filter(Exists(CompetencyStatus.objects.filter(organization_id=OuterRef("pk")))).update(
        statuses_as_of=Subquery(earliest)
    )
    had_a_level = StatusChange.objects.filter(
        organization_id=OuterRef("organization_id"), competency_id=OuterRef("competency_id")
    )
    CompetencyStatus.objects.filter(
        Q(evaluated_level="none") & Q(effective_level="none") & Q(override__isnull=True) & ~Exists(had_a_level)
    ).delete()


def markers_back(apps, schema_editor):
    """Backwards: every stored status takes its organization's marker (the dropped none rows stay missing)."""
    CompetencyStatus = apps.get_model("competencies", "CompetencyStatus")
    Organization = apps.get_model("competencies", "Organization")
    CompetencyStatus.objects.update(
        as_of=Subquery(Organization.objects.filter(pk=OuterRef("organization_id")).values("statuses_as_of")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [("competencies", "0010_agent_view_permissions")]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="statuses_as_of",
            field=models.DateField(blank=True, editable=False, null=True, verbose_name="statuses as of"),
        ),
        # Nullable first, so that going back can add the column again before filling it.
        migrations.AlterField(
            model_name="competencystatus", name="as_of", field=models.DateField(null=True, verbose_name="as of")
        ),
        migrations.RunPython(markers_set_and_none_dropped, markers_back),
        migrations.RemoveField(model_name="competencystatus", name="as_of"),
    ]
