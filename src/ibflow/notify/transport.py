"""Sending one message to one apprise URL, with timeouts, and saying why it failed without the URL's secrets.

apprise URLs carry tokens and passwords (``tgram://BOT_TOKEN/CHAT``, ``mailto://user:password@host``), so a
URL is shown only masked (``mask_url``: the scheme and a host name, never a path, user or query), and
apprise's own log lines, which may quote a URL, are captured and scrubbed instead of reaching ibflow's log.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from typing import Protocol
from urllib.parse import urlsplit

import apprise

from ibflow.core.errors import IbflowError, ValidationError

_APPRISE_LOG = logging.getLogger("apprise")
_APPRISE_LOG.propagate = False  # its lines may quote a URL with its secrets; ``send`` captures them instead
_LOG_PREFIX = re.compile(r"^\S+ \S+ - [A-Z]+ - ")
MAX_URL_LENGTH = 2000


class SendFailed(IbflowError):
    """A notification could not be sent; the message says why, without the URL's secrets."""


class Transport(Protocol):
    """Sends one notification to one URL; raises ``SendFailed``."""

    def send(self, url: str, *, title: str, body: str) -> None:
        """Send ``title`` and ``body`` to ``url`` or raise ``SendFailed``."""
        ...


_CAPTURE = threading.Lock()
"""apprise logs to one shared logger, and ``LogCapture`` listens to all of it: one capture at a time in a
process, so a send's reason (and so what is scrubbed from it) is never another send's line."""


class AppriseTransport:
    """Sends through apprise with a connect and a read timeout on every send (one send at a time)."""

    def __init__(self, *, timeout_s: float) -> None:
        self._timeout_s = timeout_s

    def send(self, url: str, *, title: str, body: str) -> None:
        """Send ``title`` and ``body`` to ``url`` or raise ``SendFailed`` with apprise's reason, scrubbed."""
        with _CAPTURE, apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            plugin = apprise.Apprise.instantiate(url)
            if plugin is None:
                raise SendFailed(f"not an apprise URL apprise can use: {mask_url(url)}")
            plugin.socket_connect_timeout = self._timeout_s
            plugin.socket_read_timeout = self._timeout_s
            try:
                sent = bool(plugin.notify(body=body, title=title))
            except Exception as exc:  # a plugin's own bug must not end the sender's loop
                raise SendFailed(scrub(f"{type(exc).__name__}: {exc}", url)) from None
        if not sent:
            raise SendFailed(_reason(str(captured.getvalue()), url))


def check_url(url: str) -> str:
    """Return ``url`` stripped when apprise knows its scheme and can parse it; else ``ValidationError``."""
    text = url.strip()
    if not text or len(text) > MAX_URL_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in text):
        problem = (
            f"give an apprise URL of 1-{MAX_URL_LENGTH} characters without spaces, e.g. ntfy://ntfy.sh/TOPIC"
        )
        raise ValidationError(f"url: {problem}", {"url": problem})
    with _CAPTURE, apprise.LogCapture(level=logging.ERROR):  # type: ignore[no-untyped-call]
        plugin = apprise.Apprise.instantiate(text)
    if plugin is None:
        problem = (
            f"{mask_url(text)} is not an apprise URL apprise can use (a known scheme such as tgram://, "
            "slack://, discord://, mailto://, ntfy://, json://, with its required parts)"
        )
        raise ValidationError(f"url: {problem}", {"url": problem})
    return text


def mask_url(url: str) -> str:
    """Show a URL without its secrets: the scheme and the host when it is a host name, else ``…``."""
    text = url.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else "?"
    if not re.fullmatch(r"[a-z][a-z0-9+.-]{0,31}", scheme):
        scheme = "?"
    try:
        parts = urlsplit(text)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # e.g. tgram://BOT_ID:TOKEN/...: the "port" is a secret
        return f"{scheme}://…"
    if not _public_host(host):
        return f"{scheme}://…"
    shown = f"{host}:{port}" if port else host
    rest = "/…" if (parts.path.strip("/") or parts.query or parts.username or parts.fragment) else ""
    return f"{scheme}://{shown}{rest}"


def _public_host(host: str) -> bool:
    """A host name (with a dot), ``localhost`` or an IP address says where, not who: safe to show."""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "." in host and not host.replace(".", "").isdigit()
    return True


def scrub(text: str, url: str) -> str:
    """Remove from ``text`` the URL and every part of it a secret may be (all but its shown host)."""
    cleaned = text.replace(url, mask_url(url))
    shown = _host(url)
    body = url.split("://", 1)[-1]
    for part in sorted(set(re.split(r"[/:@?&=#,]+", body)), key=len, reverse=True):
        if len(part) >= 3 and part != shown and part.lower() not in {"localhost"}:
            cleaned = cleaned.replace(part, "***")
    return cleaned


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _reason(log_text: str, url: str) -> str:
    lines = [_LOG_PREFIX.sub("", line).strip() for line in log_text.splitlines() if line.strip()]
    reason = lines[-1] if lines else "the target did not accept the message"
    return scrub(reason, url)[:500]
