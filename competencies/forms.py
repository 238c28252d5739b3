from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .identity import InvalidEmail, canonical_email


class CanonicalEmailField(forms.EmailField):
    """An email as every door reads it: its canonical form (competencies/identity.py), else the field's error."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        try:
            return canonical_email(value)
        except InvalidEmail:
            return value  # the email validator refuses it, with the field's own message


class InvitationForm(forms.Form):
    email = CanonicalEmailField(
        label=_("Email"),
        max_length=254,
        help_text=_("The address they sign in to Partner Center with. The invitation is valid for 30 days."),
        error_messages={"required": _("Enter the email address of the person to invite."),
                        "invalid": _("Enter a valid email address.")},
    )


def _language_field():
    return forms.ChoiceField(
        label=_("Language of the email"), choices=settings.LANGUAGES,
        help_text=_("Their account starts in this language; they can change it."),
    )


class AccountForm(forms.Form):
    """One person an organization's admin adds."""

    name = forms.CharField(
        label=_("Name"), max_length=200, error_messages={"required": _("Enter the person's name.")}
    )
    email = forms.EmailField(
        label=_("Work email"), max_length=254,
        error_messages={"required": _("Enter the person's work email."), "invalid": _("Enter a valid email address.")},
    )
    language = _language_field()


class AccountsFileForm(forms.Form):
    """A CSV file of people to add (name, email), previewed before anything is written."""

    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("UTF-8, one person per line: name, then email. A first line “name,email” is skipped."),
        error_messages={"required": _("Choose a CSV file."), "empty": _("The file is empty.")},
    )
    language = _language_field()


class McpIdForm(forms.Form):
    """The employee's certification profile ID; blank unlinks it."""

    mcp_id = forms.CharField(
        label=_("MCP ID"), max_length=20, required=False,
        help_text=_("The number on your Microsoft certification profile. Leave it blank to unlink it."),
    )
