"""Drop the single-column organization, employee and credential indexes of the tables the import and the
night write in bulk, where a composite index (or unique constraint) already leads with the same column:
the composite index serves the same lookups and foreign key checks, and every extra index slows every
import and every night's writes (docs/performance.md).

Only the indexes go (their names as Django made them, on PostgreSQL and SQLite alike): the foreign keys
stay as they are, so no table's rows are checked again.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('competencies', '0012_forecast_marker'),
    ]

    state_operations = [
        migrations.AlterField(
            model_name='association',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='associations', to='competencies.organization', verbose_name='organization'),
        ),
        migrations.AlterField(
            model_name='competencystatus',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='statuses', to='competencies.organization', verbose_name='organization'),
        ),
        migrations.AlterField(
            model_name='earnedcredential',
            name='credential',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='earned', to='competencies.credential'),
        ),
        migrations.AlterField(
            model_name='earnedcredential',
            name='employee',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='earned_credentials', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='forecastchange',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='forecast_changes', to='competencies.organization', verbose_name='organization'),
        ),
        migrations.AlterField(
            model_name='metricvalue',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='metric_values', to='competencies.organization'),
        ),
        migrations.AlterField(
            model_name='statuschange',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='status_changes', to='competencies.organization', verbose_name='organization'),
        ),
    ]

    # (table, column, the index's name as Django made it)
    dropped = [
        ("competencies_association", "organization_id", "competencies_association_organization_id_ef5b60e7"),
        ("competencies_competencystatus", "organization_id", "competencies_competencystatus_organization_id_ab9c3797"),
        ("competencies_earnedcredential", "credential_id", "competencies_earnedcredential_credential_id_a3471bf2"),
        ("competencies_earnedcredential", "employee_id", "competencies_earnedcredential_employee_id_cfc10ac8"),
        ("competencies_forecastchange", "organization_id", "competencies_forecastchange_organization_id_85ed71e6"),
        ("competencies_metricvalue", "organization_id", "competencies_metricvalue_organization_id_5d6cdc73"),
        ("competencies_statuschange", "organization_id", "competencies_statuschange_organization_id_8734b659"),
    ]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=state_operations,
            database_operations=[
                migrations.RunSQL(f"DROP INDEX IF EXISTS {name}", f"CREATE INDEX {name} ON {table} ({column})")
                for table, column, name in dropped
            ],
        ),
    ]
