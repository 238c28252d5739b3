"""A local SMTP server for the fault tests (aiosmtpd): it can be down, refuse, or accept, and counts what arrived.

`down()` closes the port (a connection is refused), `refuse()` answers
every message with a temporary failure (451), `accept()` takes them. Each
accepted message is kept with its Message-ID, so a test can say whether
every email arrived exactly once.
"""

import email
import socket
import threading
import time
from collections import Counter

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeSMTP:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.mode = "down"
        self.received: list[dict] = []
        self.refused = 0
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    # -- modes
    def down(self):
        self.mode = "down"
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse(self):
        self._listen()
        self.mode = "refuse"

    def accept(self):
        self._listen()
        self.mode = "accept"

    def _listen(self):
        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)
            self._controller.start()

    # -- aiosmtpd handler
    async def handle_DATA(self, server, session, envelope):
        if self.mode != "accept":
            with self.lock:
                self.refused += 1
            return "451 4.3.0 Mailbox busy, try again later"
        message = email.message_from_bytes(envelope.content)
        with self.lock:
            self.received.append({"message_id": message["Message-ID"], "to": list(envelope.rcpt_tos),
                                  "subject": str(message["Subject"]), "at": time.time()})
        return "250 2.0.0 OK"

    # -- what arrived
    def message_ids(self) -> Counter:
        with self.lock:
            return Counter(m["message_id"] for m in self.received)

    def arrivals(self, message_id: str) -> list[float]:
        """When each copy of this message arrived (time.time())."""
        with self.lock:
            return [m["at"] for m in self.received if m["message_id"] == message_id]

    def clear(self):
        with self.lock:
            self.received.clear()
            self.refused = 0

    def close(self):
        self.down()
