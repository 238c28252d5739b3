from django import forms
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
