"""Partners, people, the credential catalog, competencies and their status.

Every end date in this product is the first day something no longer holds
(`start <= D < end`).
"""

import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from .catalog_models import AttainmentOption, CenterOfExcellence, Competency, Metric, Requirement  # noqa: F401
from .fields import competency_key, creation_time, employee_by, level_field, organization_key
from .identity import InvalidEmail, canonical_email, email_key
from .levels import LEVELS_ABOVE_NONE, Level
from .localized import LocalizedName

LEVEL_RANK = {Level.NONE: 0, Level.SILVER: 1, Level.GOLD: 2}
ACHIEVABLE_LEVELS = [Level.SILVER, Level.GOLD]


def higher_level(a: str, b: str) -> str:
    return a if LEVEL_RANK[a] >= LEVEL_RANK[b] else b


class Market(models.TextChoices):
    DEVELOPED = "developed", _("Developed")
    DEVELOPING = "developing", _("Developing")


class EmployeeManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("An employee needs an email address.")
        user = self.model(email=canonical_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        """The sign-in's lookup: the canonical email, exactly; text that is no email finds no one."""
        try:
            return self.get(email=canonical_email(username))
        except InvalidEmail:
            raise self.model.DoesNotExist from None


class Employee(AbstractBaseUser, PermissionsMixin):
    """A login account. Email is the login, stored in its canonical form (competencies/identity.py), unique."""

    email = models.EmailField(_("email"), max_length=254, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    mcp_id = models.CharField(_("MCP ID"), max_length=40, blank=True)
    language = models.CharField(
        _("language"), max_length=10, blank=True, choices=settings.LANGUAGES, help_text=_("Preferred language")
    )
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), auto_now_add=True)

    objects = EmployeeManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = _("employee")
        verbose_name_plural = _("employees")
        # `email` is unique; the check keeps out a value some door forgot to make canonical (which is ASCII).
        constraints = [models.CheckConstraint(condition=Q(email=Lower("email")), name="employee_email_canonical")]

    def __str__(self):
        return self.name or self.email

    @classmethod
    def normalize_username(cls, username):
        # Model validation (admin forms) stores what sign-in compares; an invalid address is the field's to refuse.
        return email_key(username)

    @property
    def display_name(self):
        return self.name or self.email


class Organization(models.Model):
    """A partner organization, known by its MPN ID."""

    mpn_id = models.CharField(_("MPN ID"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    country = models.CharField(_("country"), max_length=80, blank=True)
    market = models.CharField(_("market"), max_length=20, choices=Market.choices, default=Market.DEVELOPED)
    website = models.URLField(_("website"), blank=True)
    description = models.TextField(_("description"), blank=True)
    public_profile = models.BooleanField(_("public profile"), default=True)
    admins = models.ManyToManyField(
        Employee, blank=True, related_name="administered_organizations", verbose_name=_("admins")
    )
    # The day its statuses were last evaluated as of (`statuses.statuses_refresh`); None before the first.
    statuses_as_of = models.DateField(_("statuses as of"), null=True, blank=True, editable=False)
    # The day its stored forecast was computed as of (`forecast_store`); None: to compute whole.
    forecast_as_of = models.DateField(_("forecast as of"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(mpn_id__regex=r"^[0-9]+$"), name="mpn_id_digits")]

    def __str__(self):
        return f"{self.name} ({self.mpn_id})"


class Credential(LocalizedName):
    """An exam, certification or technical assessment of the catalog; `names` translates its title."""

    localized_field = "title"

    class Kind(models.TextChoices):
        EXAM = "exam", _("Exam")
        CERTIFICATION = "certification", _("Certification")
        ASSESSMENT = "assessment", _("Technical assessment")

    code = models.CharField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.EXAM)
    title = models.CharField(_("title"), max_length=300)
    valid_days = models.PositiveIntegerField(_("valid for (days)"), null=True, blank=True)
    retired_on = models.DateField(_("retired on"), null=True, blank=True)
    accepted_until = models.DateField(
        _("accepted until"), null=True, blank=True, help_text=_("First day an earned one no longer counts.")
    )

    class Meta:
        verbose_name = _("credential")
        verbose_name_plural = _("credentials")
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.title}"


class EarnedCredential(models.Model):
    # No index of their own: the unique constraint and the index below lead with them (migration 0013).
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="earned_credentials", db_index=False)
    credential = models.ForeignKey(Credential, on_delete=models.PROTECT, related_name="earned", db_index=False)
    earned_on = models.DateField(_("earned on"))
    expires_on = models.DateField(_("expires on"), null=True, blank=True)

    class Meta:
        verbose_name = _("earned credential")
        verbose_name_plural = _("earned credentials")
        constraints = [
            models.UniqueConstraint(fields=["employee", "credential", "earned_on"], name="earned_credential_unique"),
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True) | Q(expires_on__gt=models.F("earned_on")),
                name="earned_credential_expires_after_earned",
            ),
        ]
        indexes = [models.Index(fields=["credential", "employee"])]

    def __str__(self):
        return f"{self.employee} — {self.credential} ({date_format(self.earned_on)})"


class Association(models.Model):
    """An employee counts for an organization from `starts_on` until `ends_on`.

    History is kept: an association is ended, never deleted. The database
    forbids two open associations for one employee.
    """

    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="associations", verbose_name=_("employee"))
    organization = organization_key("associations", db_index=False)  # the (organization, starts_on) index leads with it
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"), null=True, blank=True)
    # Who ended it when an organization admin removed the employee (None: a new association, an import, a departure).
    ended_by = employee_by(_("ended by"))

    class Meta:
        verbose_name = _("association")
        verbose_name_plural = _("associations")
        ordering = ["employee", "starts_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["employee"], condition=Q(ends_on__isnull=True), name="one_open_association_per_employee"
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="association_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["organization", "starts_on"])]

    def __str__(self):
        return _("%(employee)s at %(organization)s from %(start)s until %(end)s") % {
            "employee": self.employee, "organization": self.organization.name, "start": date_format(self.starts_on),
            "end": date_format(self.ends_on) if self.ends_on else "…",
        }


class Invitation(models.Model):
    """An organization admin invites someone, by email, to associate their certifications with the organization.

    Accepting is the employee's own act (docs/design.md: "employees associate their certifications with one
    organization at a time"): it starts an association that ends the previous one that day. An invitation is
    pending from `created_on` until `expires_on` unless it was accepted, declined or withdrawn first; the
    database allows one pending invitation per organization and email.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email"), max_length=254)
    invited_by = models.ForeignKey(Employee, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_on = models.DateField(_("invited on"))
    expires_on = models.DateField(_("expires on"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    closed_by = models.ForeignKey(Employee, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "email"], condition=Q(state="pending"),
                                    name="one_pending_invitation_per_email"),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="invitation_email_canonical"),
            models.CheckConstraint(condition=Q(expires_on__gt=models.F("created_on")), name="invitation_expires_after"),
        ]
        indexes = [models.Index(fields=["email", "state"], name="invitation_email_state")]

    def __str__(self):
        return _("%(email)s invited to %(organization)s on %(day)s (%(state)s)") % {
            "email": self.email, "organization": self.organization.name, "day": date_format(self.created_on),
            "state": self.get_state_display(),
        }

    def is_open_on(self, day: datetime.date) -> bool:
        return self.state == self.State.PENDING and day < self.expires_on


class MetricValue(models.Model):
    """An organization's figure for one period; a second report for the period replaces it."""

    # No index of its own: `metric_value_unique` leads with it.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="metric_values", db_index=False)
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="values")
    period_end = models.DateField(_("period end"))
    value = models.DecimalField(_("value"), max_digits=18, decimal_places=2)

    class Meta:
        verbose_name = _("metric value")
        verbose_name_plural = _("metric values")
        constraints = [
            models.UniqueConstraint(fields=["organization", "metric", "period_end"], name="metric_value_unique"),
            models.CheckConstraint(condition=Q(value__gte=0), name="metric_value_not_negative"),
        ]

    def __str__(self):
        return f"{self.organization.name} — {self.metric.name} {self.value} ({date_format(self.period_end)})"


class Override(models.Model):
    """An agent grants an organization a level in one competency for a while.

    Active on D when `starts_on <= D < expires_on` and not revoked. `state` is owned by the services and the
    nightly job; the database allows one override in state `active` per organization × competency.
    """

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    organization = organization_key("overrides")
    competency = competency_key("overrides", on_delete=models.PROTECT)
    level = level_field(choices=LEVELS_ABOVE_NONE)
    reason = models.TextField(_("reason"))
    starts_on = models.DateField(_("starts on"))
    expires_on = models.DateField(_("expires on"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.ACTIVE)
    revoked_on = models.DateField(_("revoked on"), null=True, blank=True)
    created_by = employee_by(_("created by"), related_name="overrides_created")
    created_at = creation_time()

    class Meta:
        verbose_name = _("achievement override")
        verbose_name_plural = _("achievement overrides")
        ordering = ["-starts_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "competency"],
                condition=Q(state="active"),
                name="one_active_override_per_org_competency",
            ),
            models.CheckConstraint(
                condition=Q(expires_on__gt=models.F("starts_on")), name="override_expires_after_start"
            ),
        ]

    def __str__(self):
        return _("%(organization)s — %(competency)s %(level)s until %(end)s") % {
            "organization": self.organization.name,
            "competency": self.competency.name,
            "level": self.get_level_display(),
            "end": date_format(self.expires_on),
        }

    @classmethod
    def active_on(cls, day) -> Q:
        """Active on D: `starts_on <= D < expires_on` and not revoked by D, whatever `state` says today
        (an override that has expired since was active on the days it covered)."""
        revoked = Q(state=cls.State.REVOKED) & (Q(revoked_on__isnull=True) | Q(revoked_on__lte=day))
        return Q(starts_on__lte=day, expires_on__gt=day) & ~revoked

    def is_active_on(self, day) -> bool:
        revoked = self.state == self.State.REVOKED and (self.revoked_on is None or self.revoked_on <= day)
        return self.starts_on <= day < self.expires_on and not revoked


class OverrideAudit(models.Model):
    """Who applied, extended, revoked or expired an override, written with the change."""

    class Action(models.TextChoices):
        APPLY = "apply", _("Applied")
        EXTEND = "extend", _("Extended")
        REVOKE = "revoke", _("Revoked")
        EXPIRE = "expire", _("Expired")

    override = models.ForeignKey(
        Override, on_delete=models.CASCADE, related_name="audit", verbose_name=_("achievement override")
    )
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    actor = models.ForeignKey(Employee, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True)
    at = models.DateTimeField(_("when"), auto_now_add=True)
    day = models.DateField(_("day"))
    reason = models.TextField(_("reason"), blank=True)
    old_values = models.JSONField(_("old values"), default=dict)
    new_values = models.JSONField(_("new values"), default=dict)

    class Meta:
        verbose_name = _("override audit entry")
        verbose_name_plural = _("override audit")
        ordering = ["at", "id"]

    def __str__(self):
        return _("%(action)s on %(day)s: %(override)s") % {
            "action": self.get_action_display(), "day": date_format(self.day), "override": self.override,
        }


class CompetencyStatusManager(models.Manager):
    def get_queryset(self):  # a status is as of its organization's marker (one write per evaluation)
        return super().get_queryset().annotate(as_of=models.F("organization__statuses_as_of"))


class CompetencyStatus(models.Model):
    """The latest evaluation of one organization in one competency, as of the organization's `statuses_as_of`.
    Written by `statuses.statuses_refresh` when it changed; a pair that never had a level has no row (level none).
    `details`: the last write's `CompetencyResult.summary()` (which options a lost level stood on)."""

    organization = models.ForeignKey(  # no index of its own: the unique (organization, competency) leads with it
        Organization, on_delete=models.CASCADE, related_name="statuses", verbose_name=_("organization"), db_index=False
    )
    competency = models.ForeignKey(
        Competency, on_delete=models.CASCADE, related_name="statuses", verbose_name=_("competency")
    )
    evaluated_level = models.CharField(_("evaluated level"), max_length=10, choices=Level.choices, default=Level.NONE)
    effective_level = models.CharField(_("effective level"), max_length=10, choices=Level.choices, default=Level.NONE)
    override = models.ForeignKey(
        Override, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("achievement override")
    )
    details = models.JSONField(_("details"), default=dict)

    objects = CompetencyStatusManager()

    class Meta:
        verbose_name = _("competency status")
        verbose_name_plural = _("competency statuses")
        constraints = [models.UniqueConstraint(fields=["organization", "competency"], name="one_status_per_org_competency")]

    def __str__(self):
        return _("%(organization)s — %(competency)s %(level)s as of %(day)s") % {
            "organization": self.organization.name, "competency": self.competency.name,
            "level": self.get_effective_level_display(), "day": date_format(self.organization.statuses_as_of or ""),
        }

    def refresh_from_db(self, *args, **kwargs):  # `as_of` is the organization's marker, not a field of the row
        super().refresh_from_db(*args, **kwargs)
        self.as_of = Organization.objects.filter(pk=self.organization_id).values_list("statuses_as_of", flat=True).first()


class LevelChangeWords:
    """How a row that records a change of effective level on a day (a status change, a forecast one) names itself."""

    def __str__(self):
        return _("%(organization)s — %(competency)s on %(day)s: %(old)s → %(new)s") % {
            "organization": self.organization.name, "competency": self.competency.name, "day": date_format(self.day),
            "old": self.get_old_effective_display(), "new": self.get_new_effective_display(),
        }


class StatusChange(LevelChangeWords, models.Model):
    """An append-only history of evaluated and effective level changes."""

    class Cause(models.TextChoices):
        ASSOCIATION_STARTED = "association_started", _("Association started")
        ASSOCIATION_ENDED = "association_ended", _("Association ended")
        CREDENTIAL_EARNED = "credential_earned", _("Credential earned")
        CREDENTIAL_EXPIRED = "credential_expired", _("Credential expired")
        CREDENTIAL_RETIRED = "credential_retired", _("Retired credential no longer accepted")
        METRIC_CHANGED = "metric_changed", _("Metric changed")
        OVERRIDE_APPLIED = "override_applied", _("Override applied")
        OVERRIDE_EXTENDED = "override_extended", _("Override extended")
        OVERRIDE_EXPIRED = "override_expired", _("Override expired")
        OVERRIDE_REVOKED = "override_revoked", _("Override revoked")
        CATALOG_CHANGED = "catalog_changed", _("Catalog changed")
        FIRST_EVALUATION = "first_evaluation", _("First evaluation")
        # Inference found no association, credential, metric or override change that explains it.
        OTHER = "other", _("Other change")

    organization = organization_key("status_changes", db_index=False)  # the index below leads with it
    competency = competency_key("status_changes")
    day = models.DateField(_("day"))
    old_evaluated = level_field(_("evaluated before"))
    new_evaluated = level_field(_("evaluated after"))
    old_effective = level_field(_("effective before"))
    new_effective = level_field(_("effective after"))
    cause = models.CharField(_("cause"), max_length=40, choices=Cause.choices)
    # What `cause` needs to be said in words (competencies/causes.py): ids, ISO days, codes, never a sentence.
    cause_params = models.JSONField(_("cause parameters"), default=dict, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ["day", "id"]
        indexes = [models.Index(fields=["organization", "competency", "day"])]


class ForecastPending(models.Model):
    """An organization whose facts changed since its forecast was stored, marked in the change's own transaction:
    the next forecast computes it whole (`forecast_store`)."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, primary_key=True, related_name="forecast_pending",
        verbose_name=_("organization"),
    )
    marked_on = models.DateField(_("marked on"))

    class Meta:
        verbose_name = _("pending forecast")
        verbose_name_plural = _("pending forecasts")

    def __str__(self):
        return f"{self.organization_id} ({self.marked_on})"


class ForecastChange(LevelChangeWords, models.Model):
    """A change of level the forecast expects on `day` if nothing new happens (competencies/forecast.py).

    Replaced per organization by `forecast_store.forecast_refresh` (the night, and a change of the day once
    it commits). `cause` is the kind of fact that changes on `day` (a credential expires, a metric value
    leaves its window, an override ends, …), `cause_params` what the words need (`forecast.forecast_words`).
    """

    organization = organization_key("forecast_changes", db_index=False)  # the index below leads with it
    competency = competency_key("forecast_changes")
    computed_on = models.DateField(_("computed on"))
    day = models.DateField(_("day"))
    old_evaluated = level_field(_("evaluated before"))
    new_evaluated = level_field(_("evaluated after"))
    old_effective = level_field(_("effective before"))
    new_effective = level_field(_("effective after"))
    cause = models.CharField(_("cause"), max_length=40)
    cause_params = models.JSONField(_("cause parameters"), default=dict, blank=True)

    class Meta:
        verbose_name = _("forecast change")
        verbose_name_plural = _("forecast changes")
        ordering = ["day", "id"]
        indexes = [models.Index(fields=["organization", "day"])]
