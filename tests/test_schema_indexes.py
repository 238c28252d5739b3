"""The tables the import and the night write in bulk carry no index that another index already serves.

A single-column index on a column that leads a composite index (or a unique
constraint) serves no lookup the composite one does not, and costs every row
written: on earned credentials, associations, metric values, statuses, their
history and the forecast, that is every import and every night. The foreign
key columns stay indexed through the composite index (lookups by
organization, and PostgreSQL's check when an organization or employee is
deleted).
"""

import pytest
from django.db import connection

from competencies.models import (
    Association,
    CompetencyStatus,
    EarnedCredential,
    ForecastChange,
    MetricValue,
    StatusChange,
)

pytestmark = pytest.mark.django_db

BULK_WRITTEN = [Association, CompetencyStatus, EarnedCredential, ForecastChange, MetricValue, StatusChange]


def _indexes(model) -> list[tuple[str, list[str]]]:
    """(name, columns) of each index on the model's table, unique constraints included, the primary key and
    partial indexes left out (a partial index serves only some rows)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    partial = {c.name for c in model._meta.constraints if getattr(c, "condition", None) is not None}
    return [
        (name, info["columns"])
        for name, info in constraints.items()
        if (info["index"] or info["unique"]) and not info["primary_key"] and name not in partial and info["columns"]
    ]


@pytest.mark.parametrize("model", BULK_WRITTEN, ids=lambda m: m.__name__)
def test_no_single_column_index_repeats_the_leading_column_of_a_composite_one(model):
    indexes = _indexes(model)
    leading = {columns[0] for _name, columns in indexes if len(columns) > 1}
    repeated = [name for name, columns in indexes if len(columns) == 1 and columns[0] in leading]
    assert repeated == []


@pytest.mark.parametrize("model", BULK_WRITTEN, ids=lambda m: m.__name__)
def test_every_foreign_key_still_leads_an_index(model):
    leading = {columns[0] for _name, columns in _indexes(model)}
    unindexed = [
        field.column for field in model._meta.concrete_fields if field.is_relation and field.column not in leading
    ]
    assert unindexed == []
