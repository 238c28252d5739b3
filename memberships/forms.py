"""Forms: input shape only. The rules live in the services."""

import time

from django import forms
from django.conf import settings
from django.core import signing
from django.utils.translation import gettext_lazy as _

from competencies.countries import country_name
from competencies.models import Level, Organization

REFERRAL_SALT = "memberships.referral-form"


def referral_min_seconds() -> float:
    """A person takes a few seconds to write a request; a bot posts at once."""
    return float(getattr(settings, "REFERRAL_MIN_SECONDS", 3))


def referral_max_age() -> int:
    return int(getattr(settings, "REFERRAL_FORM_MAX_AGE", 24 * 3600))


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["description", "website", "country", "public_profile"]
        widgets = {"description": forms.Textarea(attrs={"rows": 6})}
        labels = {"public_profile": _("Show our profile in the public partner directory")}
        help_texts = {
            "website": _("Starting with https://"),
            "description": _("What your organization does, for customers comparing partners."),
        }


class ReferralForm(forms.Form):
    """A customer's request. Spam resistance: a honeypot field people never see and a signed timestamp
    (the form must have been shown at least `REFERRAL_MIN_SECONDS` earlier, and not more than a day)."""

    name = forms.CharField(label=_("Your name"), max_length=200)
    email = forms.EmailField(label=_("Your email"))
    need = forms.CharField(label=_("What do you need?"), max_length=4000, widget=forms.Textarea(attrs={"rows": 5}))
    # The honeypot: hidden from people (and from screen readers), filled in by bots that fill everything.
    homepage = forms.CharField(required=False, label=_("Leave this field empty"))
    started = forms.CharField(widget=forms.HiddenInput)

    @staticmethod
    def stamp(now: float | None = None) -> str:
        return signing.TimestampSigner(salt=REFERRAL_SALT).sign(str(int(now if now is not None else time.time())))

    def __init__(self, *args, now: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now if now is not None else time.time()
        if not self.is_bound:
            self.initial["started"] = self.stamp(self.now)

    @property
    def is_bot(self) -> bool:
        """True when the honeypot was filled: the request is dropped without a word."""
        return bool(self.data.get("homepage"))

    def clean_started(self):
        try:
            shown = int(
                signing.TimestampSigner(salt=REFERRAL_SALT).unsign(self.cleaned_data["started"], max_age=referral_max_age())
            )
        except (signing.BadSignature, ValueError) as exc:
            raise forms.ValidationError(_("This form has expired: please send it again.")) from exc
        if self.now - shown < referral_min_seconds():
            raise forms.ValidationError(_("That was quick: please check your request and send it again."))
        return shown


class DirectoryFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Name or keyword"), required=False, max_length=100,
        error_messages={"max_length": _("Search with at most %(limit_value)d characters.")},
    )
    competency = forms.ChoiceField(
        label=_("Competency"), required=False,
        error_messages={"invalid_choice": _("“%(value)s” is not a competency of the directory.")},
    )
    level = forms.ChoiceField(
        label=_("Level"),
        required=False,
        choices=[("", _("Any level")), (Level.SILVER, _("Silver or above")), (Level.GOLD, _("Gold"))],
        error_messages={"invalid_choice": _("“%(value)s” is not a level: choose Silver or Gold.")},
    )
    country = forms.ChoiceField(
        label=_("Country"), required=False,
        error_messages={"invalid_choice": _("No listed partner is in “%(value)s”.")},
    )

    def __init__(self, *args, competencies=(), countries=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["competency"].choices = [("", _("Any competency"))] + [(c.slug, c.localized_name) for c in competencies]
        self.fields["country"].choices = [("", _("Any country"))] + [(c, country_name(c)) for c in countries]


MAX_QUANTITY = 1_000_000


class RedeemForm(forms.Form):
    """How many units of an offer to redeem: a whole number from 1 (the service checks what is left)."""

    quantity = forms.IntegerField(
        label=_("Quantity"),
        min_value=1,
        max_value=MAX_QUANTITY,
        error_messages={
            "required": _("Enter a quantity."),
            "invalid": _("Enter the quantity as a whole number."),
            "min_value": _("Enter a quantity of at least 1."),
            "max_value": _("That is more than any offer has: enter a smaller quantity."),
        },
        widget=forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}),
    )
