"""The organization's orders and redemptions as CSV, streamed; registered with the base's downloads at start-up
(`register`), so the dashboard and Django admin serve them (competencies.exports has the helpers)."""

from collections.abc import Iterator

from django.utils.translation import gettext_lazy as _

from competencies.exports import CHUNK, Export, csv_lines, register_export
from competencies.models import Organization

from .models import Order, Redemption

ORDER_COLUMNS = ["order", "day", "kind", "level", "benefit", "amount_usd", "status", "placed_by", "paid_at",
                 "provider", "reference", "failure_reason"]
REDEMPTION_COLUMNS = ["redemption", "day", "benefit", "activation_code", "redeemed_by", "membership_starts",
                      "membership_ends"]


def _iso(value) -> str:
    return value.isoformat() if value else ""


def order_rows(organization: Organization) -> Iterator[list]:
    """Every order of the organization, newest first, read CHUNK at a time."""
    orders = (
        Order.objects.filter(organization=organization)
        .order_by("-day", "-id")
        .values_list("pk", "day", "kind", "level", "benefit__name", "amount_usd", "status", "created_by__email",
                     "paid_at", "provider", "reference", "failure_reason")
        .iterator(chunk_size=CHUNK)
    )
    for pk, day, kind, level, benefit, amount, status, by, paid_at, provider, reference, failure in orders:
        yield [pk, _iso(day), kind, level, benefit, amount, status, by, _iso(paid_at), provider, reference, failure]


def redemption_rows(organization: Organization) -> Iterator[list]:
    """Every redemption of the organization, newest first, read CHUNK at a time."""
    redemptions = (
        Redemption.objects.filter(organization=organization)
        .order_by("-day", "-id")
        .values_list("pk", "day", "benefit__name", "code", "redeemed_by__email",
                     "allowance__membership__starts_on", "allowance__membership__ends_on")
        .iterator(chunk_size=CHUNK)
    )
    for pk, day, benefit, code, by, starts, ends in redemptions:
        yield [pk, _iso(day), benefit, code, by, _iso(starts), _iso(ends)]


def register() -> None:
    register_export(Export(
        "orders.csv", _("Download orders (CSV)"), ("memberships.view_order",),
        lambda organization, day: csv_lines(ORDER_COLUMNS, order_rows(organization)),
    ))
    register_export(Export(
        "redemptions.csv", _("Download redemptions (CSV)"), ("memberships.view_redemption",),
        lambda organization, day: csv_lines(REDEMPTION_COLUMNS, redemption_rows(organization)),
    ))
