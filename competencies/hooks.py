"""What the base announces to the layers above it.

`competencies` is the base layer: it never imports `memberships` or the
night's orchestration (`partnercenter`). When something happens here that a
layer above must act on — a re-evaluation is due, an invitation was sent, an
association ended — the base *sends* a named hook, and the layer above has
*connected* a receiver to it at start-up (in its `AppConfig.ready`). The
base knows the hook's name and arguments, never who listens.

Receivers are called in the order they connected, synchronously, inside the
sender's transaction unless the sender says otherwise; what they return is
handed back to the sender as a list.
"""

from collections.abc import Callable
from typing import Any


class Hook:
    """A named announcement of the base; the layers above connect receivers, the base sends."""

    def __init__(self, name: str, arguments: tuple[str, ...]):
        self.name = name
        self.arguments = arguments
        self._receivers: list[Callable[..., Any]] = []

    def __repr__(self) -> str:
        return f"<Hook {self.name}({', '.join(self.arguments)})>"

    def connect(self, receiver: Callable[..., Any]) -> Callable[..., Any]:
        """Connect `receiver` (once: connecting it again changes nothing); usable as a decorator."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def disconnect(self, receiver: Callable[..., Any]) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    @property
    def receivers(self) -> tuple[Callable[..., Any], ...]:
        return tuple(self._receivers)

    def send(self, **arguments: Any) -> list[Any]:
        """Call every receiver with the hook's keyword arguments; their results, in order."""
        if set(arguments) != set(self.arguments):
            raise TypeError(f"{self.name} takes {', '.join(self.arguments)}; got {', '.join(sorted(arguments))}")
        return [receiver(**arguments) for receiver in self._receivers]


# Organizations must be re-evaluated as of `day` (sent once the change's transaction has committed).
# `organization_ids` is a sorted list, or None for every organization (a catalog change); `cause` a
# StatusChange cause code or None (inferred from what changed), `cause_params` its structured parameters.
reevaluation_requested = Hook("reevaluation_requested", ("organization_ids", "day", "cause", "cause_params"))

# An invitation was sent or renewed: the layer above emails the invitee (it owns the outbox).
invitation_sent = Hook("invitation_sent", ("invitation",))

# An employee stopped counting for an organization on `on` (`how`: "left", "removed", "moved", "imported");
# `by` is the employee who did it, or None.
association_ended = Hook("association_ended", ("association", "how", "by"))

# An organization's admin (`by`) created an account for `employee`, counting for `organization`: the layer
# above emails them a link to set their password (it owns the outbox).
account_created = Hook("account_created", ("employee", "organization", "by"))
