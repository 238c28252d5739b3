"""The what-if planner (/dashboard/membership/what-if/): an organization's levels, membership eligibility
and forecast of the coming year under hypothetical changes. Nothing is written: the plan lives in the URL
(`competencies.what_if.Plan.query`)."""

import dataclasses
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import TooManyFieldsSent
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from competencies.formatting import level_words
from competencies.models import LEVEL_RANK, Level
from competencies.views import organization_or_404
from competencies.what_if import MAX_CHANGES, NotInOrganization, Plan, PlanError, plan_parse, what_if_evaluate

from .eligibility import membership_state, qualifications_of


def _link(plan: Plan, today) -> str:
    query = urlencode(plan.query(today=today))
    return reverse("dashboard:what-if") + (f"?{query}" if query else "")


def _changes(plan: Plan, found, today) -> list[dict]:
    """One line per change of the plan, in the reader's language, with the link of the plan without it."""
    lines = []

    def add(text: str, field: str, index: int) -> None:
        values = list(getattr(plan, field))
        del values[index]
        lines.append({"text": text, "remove": _link(dataclasses.replace(plan, **{field: tuple(values)}), today)})

    for n, person in enumerate(plan.leaves):
        add(_("%(name)s leaves.") % {"name": found.people[person]}, "leaves", n)
    for n, invitation in enumerate(plan.invites):
        add(_("%(email)s joins (invited).") % {"email": found.invitations[invitation]}, "invites", n)
    for n, email in enumerate(plan.hires):
        add(_("%(email)s joins.") % {"email": email}, "hires", n)
    for n, e in enumerate(plan.earnings):
        who = found.people.get(int(e.who), e.who) if e.who.isdigit() else e.who
        add(_("%(name)s earns %(code)s on %(day)s.") % {"name": who, "code": e.code, "day": date_format(e.on)},
            "earnings", n)
    metrics = {m.slug: m.localized_name for m in found.snapshot.metrics.values()}
    for n, g in enumerate(plan.gains):
        add(_("%(metric)s gains %(amount)s.") % {"metric": metrics.get(g.metric, g.metric), "amount": g.amount},
            "gains", n)
    return lines


def _rows(found) -> list[dict]:
    rows = []
    for spec in found.competencies:
        now, then = found.today.get(spec.id), found.planned.get(spec.id)
        if now is None or then is None:
            continue
        before, after = now.effective_level, then.effective_level
        rows.append({
            "competency": spec, "today": before, "today_label": level_words(before), "plan": after,
            "plan_label": level_words(after),
            "move": "up" if LEVEL_RANK[after] > LEVEL_RANK[before] else "down" if LEVEL_RANK[after] < LEVEL_RANK[before] else "",
        })
    return rows


def _coming(found) -> list[dict]:
    """The forecast under the plan, each change with its competency (for its name and page)."""
    specs = {spec.id: spec for spec in found.competencies}
    return [{"change": c, "competency": specs[c.competency_id]} for c in found.coming if c.competency_id in specs]


def _decisions(organization, found) -> list[tuple[str, object]]:
    """Buy, upgrade and renew under the plan, on the plan's day: the membership rules asked of the plan's levels."""
    qualified = qualifications_of(found.results, organization_id=organization.pk, catalog=found.snapshot,
                                  day=found.plan.day, explain=found.explain)
    state = membership_state(organization, day=found.plan.day, qualified=qualified)
    renew_level = state.renewal_base.level if state.renewal_base else Level.SILVER
    return [
        (_("Buy Silver"), state.buy(Level.SILVER)),
        (_("Buy Gold"), state.buy(Level.GOLD)),
        (_("Upgrade to Gold"), state.upgrade()),
        (_("Renew at %(level)s") % {"level": Level(renew_level).label}, state.renew()),
    ]


# The plan's hidden fields (in each of the six forms) and the people's options (in two lists) are rendered
# once, here, each value escaped: template loops (or format_html) over 2,000 people and a plan of 50 changes
# cost more than evaluating the plan.
def _html(template: str, rows) -> str:
    return mark_safe("".join(template.format(*map(conditional_escape, row)) for row in rows))


def _hidden(pairs: list[tuple[str, str]]) -> str:
    return _html('<input type="hidden" name="{}" value="{}">', pairs)


@login_required
@require_safe
def what_if(request):
    """The planner: today's levels and the plan's; 400 with the messages and the empty form for a bad plan,
    404 when the plan names someone who is not of the reader's organization."""
    organization = organization_or_404(request)
    today = timezone.localdate()
    errors: list[str] = []
    found = None
    try:
        plan = plan_parse(request.GET, today=today)
        found = what_if_evaluate(organization_id=organization.pk, plan=plan, today=today)
    except TooManyFieldsSent:
        errors = [_("A plan holds at most %(max)s changes.") % {"max": MAX_CHANGES}]
    except PlanError as error:
        errors = error.messages
    except NotInOrganization:
        raise Http404("No such person or invitation in your organization.") from None
    if found is None:
        found = what_if_evaluate(organization_id=organization.pk, plan=Plan(day=today), today=today)
    plan = found.plan
    context = {
        "organization": organization, "today": today, "plan": plan, "errors": errors, "found": found,
        "hidden": _hidden(plan.query(today=today)), "hidden_no_day": _hidden(plan.query(today=plan.day)),
        "people_options": _html('<option value="{}">{}</option>', sorted(found.people.items(), key=lambda p: p[1].lower())),
        "joiners": [found.invitations[i] for i in plan.invites] + list(plan.hires),
        "codes": sorted(found.snapshot.credential_codes.values()),
        "metrics": sorted(found.snapshot.metrics.values(), key=lambda m: m.name),
        "changes": _changes(plan, found, today), "clear": reverse("dashboard:what-if"),
        "rows": [] if errors else _rows(found), "decisions": [] if errors else _decisions(organization, found),
        "coming": [] if errors else _coming(found),
        "max_changes": MAX_CHANGES,
    }
    return render(request, "memberships/what_if.html", context, status=400 if errors else 200)
