"""A loopback SMTP server (aiosmtpd) that records what it receives and can refuse or stop on demand."""

import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class FakeSMTP:
    """``refusing = True`` answers every recipient with 451 (try again later), as a mail server
    in trouble does; ``stop()``/``start()`` take it off the network and back on the same port."""

    port: int = field(default_factory=free_port)
    refusing: bool = False
    messages: list[EmailMessage] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self):
        self._controller = None
        self.start()

    # aiosmtpd handler hooks
    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.refusing:
            return "451 4.3.0 Mail server temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if address in message["To"]]
