"""`{% load membership_forecast %}`: whether the membership is renewable on its anniversary if nothing changes."""

from django import template
from django.utils import timezone

from memberships.eligibility import renewal_outlook

register = template.Library()


@register.inclusion_tag("forecast/_renewal.html", takes_context=True)
def renewal_forecast(context, organization):
    """`{% renewal_forecast organization %}`: the membership page's outlook (`eligibility.renewal_outlook`)."""
    today = context.get("today") or timezone.localdate()
    return {"outlook": renewal_outlook(organization, day=today) if organization else None, "today": today}
