"""The payment step, behind one small interface so a real provider can replace the simulated one.

`settings.PAYMENT_PROVIDER` names the class (default: `SimulatedProvider`).
A provider charges one order and says whether it was paid; it is called with
the order's organization locked, once per order, and must be idempotent by
`order.pk` (a real provider passes it as the idempotency key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    from .models import Order

DEFAULT_PROVIDER = "memberships.payments.SimulatedProvider"


@dataclass(frozen=True)
class PaymentResult:
    paid: bool
    reference: str = ""  # the provider's id of the charge
    error: str = ""  # why it failed, in words the organization can act on


class PaymentProvider(Protocol):
    name: str
    label: str  # how the review page names the payment method, in the reader's language

    def charge(self, *, order: Order) -> PaymentResult:
        """Charge `order.amount_usd` for `order`; never raise for a declined payment, say so in the result."""
        ...


class SimulatedProvider:
    """Approves every charge, with a reference made from the order; `decline=True` declines them all (tests)."""

    name = "simulated"
    label = gettext_lazy("Simulated card payment (a demonstration: no money moves)")

    def __init__(self, *, decline: bool = False):
        self.decline = decline

    def charge(self, *, order: Order) -> PaymentResult:
        if self.decline:
            return PaymentResult(paid=False, error=_("The card was declined (simulated)."))
        return PaymentResult(paid=True, reference=f"SIM-{order.pk:08d}")


def payment_provider() -> PaymentProvider:
    """The configured provider (`settings.PAYMENT_PROVIDER`, a dotted path to a class taking no arguments)."""
    return import_string(getattr(settings, "PAYMENT_PROVIDER", DEFAULT_PROVIDER))()
