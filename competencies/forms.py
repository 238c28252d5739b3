from django import forms
from django.utils.translation import gettext_lazy as _


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        help_text=_("The address they sign in to Partner Center with. The invitation is valid for 30 days."),
        error_messages={"required": _("Enter the email address of the person to invite."),
                        "invalid": _("Enter a valid email address.")},
    )
