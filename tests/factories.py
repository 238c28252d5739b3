"""factory-boy factories for every model the tests build."""

import datetime

import factory
from dateutil.relativedelta import relativedelta

from competencies import models as cm
from memberships import models as mm

PASSWORD = "correct horse battery staple"  # every employee the factories make signs in with it


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Organization

    mpn_id = factory.Sequence(lambda n: str(4000000 + n))
    name = factory.Sequence(lambda n: f"Contoso {n}")
    country = "United States"


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Employee
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Sequence(lambda n: f"Person {n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class CredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Credential
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"70-{100 + n}")
    title = factory.LazyAttribute(lambda o: f"Exam {o.code}")


class EarnedCredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.EarnedCredential

    employee = factory.SubFactory(EmployeeFactory)
    credential = factory.SubFactory(CredentialFactory)
    earned_on = datetime.date(2026, 1, 1)


class AssociationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Association

    employee = factory.SubFactory(EmployeeFactory)
    organization = factory.SubFactory(OrganizationFactory)
    starts_on = datetime.date(2026, 1, 1)


class CenterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.CenterOfExcellence
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"center-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class CompetencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Competency
        django_get_or_create = ("slug",)

    center = factory.SubFactory(CenterFactory)
    slug = factory.Sequence(lambda n: f"competency-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class OptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.AttainmentOption

    competency = factory.SubFactory(CompetencyFactory)
    level = "silver"
    name = factory.Sequence(lambda n: f"Option {n}")
    position = factory.Sequence(lambda n: n)


class RequirementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Requirement

    option = factory.SubFactory(OptionFactory)
    kind = "certified_people"
    position = factory.Sequence(lambda n: n)
    params = factory.LazyFunction(lambda: {"count": 1, "any_of": ["70-533"]})


class MetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Metric
        django_get_or_create = ("slug",)

    slug = "azure_consumption_usd"
    name = "Azure consumption"
    unit = "USD"


class MetricValueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.MetricValue

    organization = factory.SubFactory(OrganizationFactory)
    metric = factory.SubFactory(MetricFactory)
    period_end = datetime.date(2026, 6, 30)
    value = 1000


class OverrideFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Override

    organization = factory.SubFactory(OrganizationFactory)
    competency = factory.SubFactory(CompetencyFactory)
    level = "gold"
    reason = "Pending exam results confirmed by the partner's PDM"
    starts_on = datetime.date(2026, 1, 1)
    expires_on = datetime.date(2026, 4, 1)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = mm.Membership

    organization = factory.SubFactory(OrganizationFactory)
    level = "silver"
    purchased_on = datetime.date(2026, 1, 1)
    starts_on = factory.LazyAttribute(lambda o: o.purchased_on)
    ends_on = factory.LazyAttribute(lambda o: o.starts_on + relativedelta(years=1))


# --- Evaluation engine helpers -------------------------------------------------


def build_competency(slug: str = None, *, silver=(), gold=(), **fields) -> cm.Competency:
    """A competency from the catalog file's shape: `silver`/`gold` are lists of options, each a list of
    requirements as in the catalog (`{"kind": "certified_people", "count": 1, "any_of": [...]}`).

    Credentials and metrics the requirements name are created when missing.
    """
    competency = CompetencyFactory(**({"slug": slug} if slug else {}), **fields)
    for level, options in (("silver", silver), ("gold", gold)):
        for position, requirements in enumerate(options):
            option = OptionFactory(competency=competency, level=level, position=position, name=f"{level} {position}")
            for req_position, requirement in enumerate(requirements):
                params = dict(requirement)
                kind = params.pop("kind", "certified_people")
                for group in params.get("groups") or [params.get("any_of") or params.get("all_of") or []]:
                    for code in group:
                        CredentialFactory(code=code)
                if kind == "metric":
                    MetricFactory(slug=params["metric"])
                RequirementFactory(option=option, kind=kind, position=req_position, params=params)
    return competency


def certified_employee(organization, *codes, starts_on=datetime.date(2026, 1, 1), ends_on=None,
                       earned_on=datetime.date(2026, 1, 1), expires_on=None, **employee_fields) -> cm.Employee:
    """An employee associated with `organization` from `starts_on`, holding `codes` earned on `earned_on`."""
    employee = EmployeeFactory(**employee_fields)
    if organization is not None:
        AssociationFactory(employee=employee, organization=organization, starts_on=starts_on, ends_on=ends_on)
    for code in codes:
        EarnedCredentialFactory(
            employee=employee, credential=CredentialFactory(code=code), earned_on=earned_on, expires_on=expires_on
        )
    return employee


# --- Memberships, offers, referrals ------------------------------------------


class MembershipPlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = mm.MembershipPlan
        django_get_or_create = ("level",)

    level = "silver"
    price_usd = factory.LazyAttribute(lambda o: {"silver": 1670, "gold": 4730}[o.level])


class BenefitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = mm.Benefit
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"offer-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    membership_level = "silver"
    quantity = 10


class StatusChangeFactory(factory.django.DjangoModelFactory):
    """A history row as `statuses_refresh` writes it (for tests that need history without the engine)."""

    class Meta:
        model = cm.StatusChange

    organization = factory.SubFactory(OrganizationFactory)
    competency = factory.SubFactory(CompetencyFactory)
    day = datetime.date(2026, 1, 1)
    old_evaluated = "none"
    new_evaluated = "silver"
    old_effective = "none"
    new_effective = factory.LazyAttribute(lambda o: o.new_evaluated)
    cause = "first_evaluation"


class ReferralFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = mm.Referral

    organization = factory.SubFactory(OrganizationFactory)
    name = "Carol Customer"
    email = "carol@example.com"
    need = "Help moving to Azure"
    received_on = datetime.date(2026, 11, 20)


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Invitation

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    created_on = datetime.date(2026, 11, 1)
    expires_on = datetime.date(2026, 12, 1)
