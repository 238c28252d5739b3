"""Downloads of an organization's data: streamed row by row, so 10,000 rows take the memory of a few hundred.

Columns are stable identifiers and levels are codes (`gold`), as in
`export_achievements` (docs/interfaces.md, "Exports"); names and titles are
the catalog's. Each download is an `Export`, registered once by name: the
dashboard serves it to the organization's employees, Django admin to agents
for any organization. The memberships layer registers its orders and
redemptions with the same helpers.
"""

import csv
import datetime
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import batched

from django.http import Http404, StreamingHttpResponse
from django.utils.translation import gettext_lazy as _

from .engine import evaluate
from .models import Association, Competency, EarnedCredential, Organization
from .rules import covering, credential_valid
from .snapshot import catalog_snapshot
from .views import organization_or_404

CHUNK = 500  # rows read from the database at a time
EVALUATED_AT_ONCE = 200  # organizations evaluated together by an export of several
CSV = "text/csv; charset=utf-8"


class _Line:
    """A file-like object that hands back what csv.writer writes, so each row is encoded and yielded at once."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[Iterable]) -> Iterator[bytes]:
    """The CSV file as it is written: a UTF-8 byte order mark (spreadsheets then read Chinese right), the
    header, one row at a time."""
    writer = csv.writer(_Line())
    yield "\ufeff".encode()
    yield writer.writerow(header).encode()
    for row in rows:
        yield writer.writerow(["" if value is None else value for value in row]).encode()


def download(filename: str, chunks: Iterator[bytes], content_type: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def csv_download(filename: str, header: list[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    return download(filename, csv_lines(header, rows), CSV)


def export_organization(request) -> Organization:
    """The signed-in employee's organization, the only one they export. A link may name it (`?organization=`
    MPN ID, to be explicit); naming another one is not theirs (404)."""
    own = organization_or_404(request)
    named = request.GET.get("organization")
    if named is not None and named != own.mpn_id:
        raise Http404("Not your organization.")
    return own


@dataclass(frozen=True)
class Export:
    """One download of an organization's data, the same file whoever takes it."""

    name: str  # "orders.csv": the end of its URL, and its file's name is `<MPN ID>-orders-<day>.csv`
    label: str  # the link's words in admin
    permissions: tuple[str, ...]  # what an agent needs besides viewing the organization: viewing these rows
    content: Callable[[Organization, datetime.date], Iterator[bytes]]
    content_type: str = CSV

    def response(self, organization: Organization, *, day: datetime.date) -> StreamingHttpResponse:
        stem, extension = self.name.rsplit(".", 1)
        return download(f"{organization.mpn_id}-{stem}-{day}.{extension}", self.content(organization, day),
                        self.content_type)


_exports: dict[str, Export] = {}


def register_export(export: Export) -> None:
    """Offer a download of an organization's data under its name (the layers above register theirs at start-up)."""
    _exports[export.name] = export


def registered_exports() -> tuple[Export, ...]:
    """Every download, in the order registered: the base's, then the layers' above."""
    return tuple(_exports.values())


def export_named(name: str) -> Export:
    """The download of that name; an unknown name is 404."""
    try:
        return _exports[name]
    except KeyError:
        raise Http404("No such download.") from None


# ---------------------------------------------------------------------------
# Competencies: level, effective level, and each requirement's progress

COMPETENCY_COLUMNS = [
    "mpn_id", "competency", "evaluated_level", "effective_level", "override_expires_on",
    "option_level", "option", "option_met", "requirement", "have", "need", "progress_percent", "requirement_met",
]


def _competency_results(organizations: Iterable[Organization], day: datetime.date):
    """(organization, competency, result) in the organizations' order, EVALUATED_AT_ONCE organizations per
    evaluation: the queries of one evaluation per batch and the memory of one batch, however many there are."""
    competencies = list(Competency.objects.order_by("center__position", "position", "name"))
    for batch in batched(organizations, EVALUATED_AT_ONCE):
        results = evaluate(organization_ids=[o.pk for o in batch], day=day, details=True, key_people=False)
        for organization in batch:
            for competency in competencies:
                result = results.get((organization.pk, competency.pk))
                if result is not None:
                    yield organization, competency, result


def competency_rows(organizations: Iterable[Organization], *, day: datetime.date) -> Iterator[list]:
    """One row per organization × competency × option × requirement, as evaluated on `day` (an agent's export
    of several organizations is one file of these)."""
    for organization, competency, result in _competency_results(organizations, day):
        head = [organization.mpn_id, competency.name, result.evaluated_level, result.effective_level,
                result.override.expires_on.isoformat() if result.override else ""]
        for option in result.options:
            for req in option.requirements:
                yield head + [option.level, option.name, option.met, req.summary, req.have, req.need,
                              round(req.progress * 100), req.met]


def competency_document(organization: Organization, *, day: datetime.date) -> Iterator[bytes]:
    """The same as JSON: one array of competencies, each with its options and requirements, written one by one."""
    yield b"["
    for position, (_organization, competency, result) in enumerate(_competency_results([organization], day)):
        item = {
            "mpn_id": organization.mpn_id, "competency": competency.slug, "name": competency.name, "day": day.isoformat(),
            "evaluated_level": result.evaluated_level, "effective_level": result.effective_level,
            "override_expires_on": result.override.expires_on.isoformat() if result.override else None,
            "options": [
                {"level": o.level, "name": o.name, "met": o.met, "progress": round(o.progress, 4),
                 "requirements": [{"summary": r.summary, "have": str(r.have), "need": str(r.need), "unit": r.unit,
                                   "progress": round(r.progress, 4), "met": r.met} for r in o.requirements]}
                for o in result.options
            ],
        }
        yield (b"," if position else b"") + json.dumps(item, ensure_ascii=False).encode()
    yield b"]"


# ---------------------------------------------------------------------------
# People: who counts, their valid credentials, and the competencies each credential counts toward

PEOPLE_COLUMNS = ["name", "email", "mcp_id", "counts_since", "credential", "credential_title", "earned_on",
                  "expires_on", "counts_toward"]


def people_rows(organization: Organization, *, day: datetime.date) -> Iterator[list]:
    """One row per person × credential valid on `day` (a person without one: one row, credential blank), by name.

    Read CHUNK people at a time with their credentials: the memory of one
    chunk, whatever the number of people.
    """
    catalog = catalog_snapshot()
    toward: dict[int, list[str]] = {}
    for competency in catalog.competencies:
        for credential_id in catalog.credentials_of(competency.id):
            toward.setdefault(credential_id, []).append(competency.name)
    people = (
        Association.objects.filter(covering(day), organization=organization)
        .order_by("employee__name", "employee__email", "employee_id")
        .values_list("employee_id", "employee__name", "employee__email", "employee__mcp_id", "starts_on")
        .iterator(chunk_size=CHUNK)
    )
    for chunk in batched(people, CHUNK):
        held: dict[int, list] = {}
        earned = (
            EarnedCredential.objects.filter(credential_valid(day), employee_id__in=[p[0] for p in chunk])
            .exclude(credential__accepted_until__lte=day)
            .order_by("credential__code", "earned_on")
            .values_list("employee_id", "credential_id", "credential__code", "credential__title", "earned_on", "expires_on")
        )
        for employee_id, *rest in earned:
            held.setdefault(employee_id, []).append(rest)
        for employee_id, name, email, mcp_id, since in chunk:
            person = [name or email, email, mcp_id, since.isoformat()]
            for credential_id, code, title, earned_on, expires_on in held.get(employee_id) or [(None,) * 5]:
                yield person + [code, title, earned_on.isoformat() if earned_on else "",
                                expires_on.isoformat() if expires_on else "",
                                "; ".join(sorted(toward.get(credential_id, [])))]


register_export(Export(
    "competencies.csv", _("Download competencies (CSV)"), ("competencies.view_competencystatus",),
    lambda organization, day: csv_lines(COMPETENCY_COLUMNS, competency_rows([organization], day=day)),
))
register_export(Export(
    "competencies.json", _("Download competencies (JSON)"), ("competencies.view_competencystatus",),
    lambda organization, day: competency_document(organization, day=day), "application/json",
))
register_export(Export(
    "people.csv", _("Download people (CSV)"),
    ("competencies.view_employee", "competencies.view_association", "competencies.view_earnedcredential"),
    lambda organization, day: csv_lines(PEOPLE_COLUMNS, people_rows(organization, day=day)),
))
