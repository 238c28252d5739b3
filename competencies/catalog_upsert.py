"""Writing a parsed catalog file: upsert by key, and the options and requirements that follow the file.

Upsert, never delete: rows the file no longer mentions are left alone (overrides,
statuses and earned credentials point at them). A competency's options are matched by
level and position, its requirements by position; a row is written only when it
differs, surplus rows are deleted. Loading the same file twice writes nothing the
second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from .models import AttainmentOption, Requirement


def new_counts(**extra: int) -> dict[str, int]:
    return {"created": 0, "updated": 0, "unchanged": 0, **extra}


def columns(entry: Any, *names: str, **more: Any) -> dict[str, Any]:
    """A row's columns from a parsed catalog entry: its attributes of these names, and `more`."""
    return {name: getattr(entry, name) for name in names} | more


def upsert(model: type[models.Model], *, key: str, rows: dict[str, dict]) -> tuple[dict[str, int], dict[str, int]]:
    """Create the rows whose `key` is new, update those that differ, leave the rest untouched.

    Two to four queries whatever the number of rows. Returns the counts and
    the primary key of every row by its key.
    """
    counts = new_counts()
    existing = {getattr(obj, key): obj for obj in model.objects.filter(**{f"{key}__in": list(rows)})}
    new, changed, fields = [], [], set()
    for value, wanted in rows.items():
        obj = existing.get(value)
        if obj is None:
            new.append(model(**{key: value}, **wanted))
            continue
        diff = [name for name, want in wanted.items() if getattr(obj, name) != want]
        for name in diff:
            setattr(obj, name, wanted[name])
        if diff:
            changed.append(obj)
            fields.update(diff)
        else:
            counts["unchanged"] += 1
    if new:
        model.objects.bulk_create(new)
        counts["created"] = len(new)
    if changed:
        model.objects.bulk_update(changed, sorted(fields))
        counts["updated"] = len(changed)
    return counts, {getattr(obj, key): obj.pk for obj in [*existing.values(), *new]}


@dataclass
class _Sync:
    """What `sync_options` found to write, gathered before it writes anything."""

    options: dict[str, int] = field(default_factory=lambda: new_counts(deleted=0))
    requirements: dict[str, int] = field(default_factory=lambda: new_counts(deleted=0))
    keep_options: set[int] = field(default_factory=set)
    keep_requirements: set[int] = field(default_factory=set)
    changed_options: list[AttainmentOption] = field(default_factory=list)
    changed_requirements: list[Requirement] = field(default_factory=list)
    requirement_fields: set[str] = field(default_factory=set)
    new_options: list[AttainmentOption] = field(default_factory=list)
    # A new requirement's option may be new too: the option is saved first, then its id copied.
    new_requirements: list[tuple[AttainmentOption, Requirement]] = field(default_factory=list)


def sync_options(competencies: Iterable[Any], competency_ids: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """Make the options and requirements of the file's competencies (its `CompetencyEntry`s) what the file says.

    Options are matched by (competency, level, position), requirements by
    (option, position); only rows that differ are written, surplus rows
    deleted. Two reads, then at most one statement per kind of write.
    Returns the counts of options and of requirements.
    """
    ids = list(competency_ids.values())
    options = {
        (o.competency_id, o.level, o.position): o for o in AttainmentOption.objects.filter(competency_id__in=ids)
    }
    requirements = {
        (r.option_id, r.position): r for r in Requirement.objects.filter(option__competency_id__in=ids)
    }
    sync = _Sync()
    for competency in competencies:
        competency_id = competency_ids[competency.slug]
        for entry in competency.options:
            option = _match_option(sync, options, competency_id, entry)
            for position, req in enumerate(entry.requirements):
                _match_requirement(sync, requirements, option, position, req)
    _write(sync, options, requirements)
    return sync.options, sync.requirements


def _match_option(sync: _Sync, options: dict[tuple, AttainmentOption], competency_id: int, entry: Any) -> AttainmentOption:
    option = options.get((competency_id, entry.level, entry.position))
    if option is None:
        option = AttainmentOption(
            competency_id=competency_id, level=entry.level, position=entry.position, name=entry.name, names=entry.names
        )
        sync.new_options.append(option)
        return option
    sync.keep_options.add(option.pk)
    if (option.name, option.names) != (entry.name, entry.names):
        option.name, option.names = entry.name, entry.names
        sync.changed_options.append(option)
    else:
        sync.options["unchanged"] += 1
    return option


def _match_requirement(
    sync: _Sync, requirements: dict[tuple, Requirement], option: AttainmentOption, position: int, req: Any
) -> None:
    row = requirements.get((option.pk, position)) if option.pk else None
    if row is None:
        sync.new_requirements.append((option, Requirement(kind=req.kind, position=position, params=req.params)))
        return
    sync.keep_requirements.add(row.pk)
    diff = [name for name, want in (("kind", req.kind), ("params", req.params)) if getattr(row, name) != want]
    if diff:
        row.kind, row.params = req.kind, req.params
        sync.changed_requirements.append(row)
        sync.requirement_fields.update(diff)
    else:
        sync.requirements["unchanged"] += 1


def _write(sync: _Sync, options: dict[tuple, AttainmentOption], requirements: dict[tuple, Requirement]) -> None:
    stale_options = [o.pk for o in options.values() if o.pk not in sync.keep_options]
    # Requirements of a stale option go with it (cascade); count them as deleted too.
    stale_requirements = [r.pk for r in requirements.values() if r.pk not in sync.keep_requirements]
    if stale_requirements:
        Requirement.objects.filter(pk__in=stale_requirements).delete()
        sync.requirements["deleted"] = len(stale_requirements)
    if stale_options:
        AttainmentOption.objects.filter(pk__in=stale_options).delete()
        sync.options["deleted"] = len(stale_options)
    if sync.changed_options:
        AttainmentOption.objects.bulk_update(sync.changed_options, ["name", "names"])
        sync.options["updated"] = len(sync.changed_options)
    if sync.changed_requirements:
        Requirement.objects.bulk_update(sync.changed_requirements, sorted(sync.requirement_fields))
        sync.requirements["updated"] = len(sync.changed_requirements)
    if sync.new_options:
        AttainmentOption.objects.bulk_create(sync.new_options)
        sync.options["created"] = len(sync.new_options)
    if sync.new_requirements:
        for option, row in sync.new_requirements:
            row.option_id = option.pk
        Requirement.objects.bulk_create([row for _option, row in sync.new_requirements])
        sync.requirements["created"] = len(sync.new_requirements)
