"""A local SMTP server for the tests: takes every message on 127.0.0.1 and keeps it (envelope and parsed
message). Plain SMTP, no TLS and no login, as a relay inside a private network would be; enough for
Python's smtplib and aiosmtplib, which Airflow's SMTP provider uses. (aiosmtpd is not a dependency of
the project, and the standard library's smtpd is gone from Python 3.12.)"""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        """The HTML body as sent (Airflow's SMTP provider sends html_content)."""
        part = self.message.get_body(("html", "plain"))
        return part.get_content() if part is not None else ""


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        server: Mailbox = self.server.mailbox  # type: ignore[attr-defined]
        self.reply("220 mailbox ESMTP ready")
        sender, recipients = "", []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command = line.decode("ascii", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-mailbox")
                self.reply("250-8BITMIME")
                self.reply("250 SIZE 10485760")
            elif verb == "HELO":
                self.reply("250 mailbox")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip().strip("<>").split(">")[0], []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>").split(">")[0])
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while True:
                    chunk = self.rfile.readline()
                    if chunk in (b".\r\n", b".\n", b""):
                        break
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                message = email.message_from_bytes(b"".join(data), policy=email.policy.default)
                server.deliver(Received(sender, recipients, message))  # type: ignore[arg-type]
                self.reply("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class Mailbox:
    """``with Mailbox() as box:``: a server on 127.0.0.1:``box.port``; ``box.messages`` as they arrive."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._arrived = threading.Condition()
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.mailbox = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Mailbox:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def deliver(self, received: Received) -> None:
        with self._arrived:
            self.messages.append(received)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """The messages once there are at least ``count`` (or when ``timeout`` runs out)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count and time.monotonic() < deadline:
                self._arrived.wait(max(0.0, deadline - time.monotonic()))
            return list(self.messages)

    def connection(self, sender: str = "airflow@agency.example") -> str:
        """An Airflow SMTP connection (``AIRFLOW_CONN_...`` JSON) to this server."""
        extra = {
            "from_email": sender,
            "disable_ssl": True,
            "disable_tls": True,
            "timeout": 10,
            "retry_limit": 1,
        }
        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.port, "extra": extra})
