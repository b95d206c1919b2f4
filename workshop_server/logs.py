"""Log hygiene: no credential from a URL's query string ever reaches the server's log.

uvicorn logs each request's path with its query string: HTTP requests on the ``uvicorn.access``
logger, WebSocket handshakes on ``uvicorn.error``. :func:`install` attaches a filter to both that
replaces the values of the query parameters named in :data:`SECRET_PARAMETERS` (in any case, percent-
encoded or not) with ``[redacted]`` before the record is formatted.

Tokens travel in links' fragments (``/r/CODE#token=…``), which browsers never send. A link whose ``#``
was percent-encoded on its way (a link rewriter, a chat app, a mail client) sends its fragment in the
path instead (``/r/CODE%23token%3D…``): everything after such an encoded ``#``, up to the query string,
is redacted too.
"""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import unquote_plus

__all__ = ["LOGGERS", "REDACTED", "SECRET_PARAMETERS", "RedactQuerySecrets", "install", "redact"]

#: Query parameters whose values are credentials: tokens, invites, organiser keys, download keys.
SECRET_PARAMETERS: Final = frozenset({"token", "invite", "key", "dl", "passphrase"})
#: What a secret value is replaced with.
REDACTED: Final = "[redacted]"
#: The loggers that print request paths with their query strings.
LOGGERS: Final = ("uvicorn.access", "uvicorn.error")

# A query string: after a "?", up to whitespace, a quote or the end.
_QUERY = re.compile(r"\?([^\s\"'<>]*)")
# A fragment sent in a path: a "#" percent-encoded once or twice (uvicorn quotes the decoded path again),
# or a raw one before a parameter; its content runs up to whitespace, a quote or the query string.
_FRAGMENT = re.compile(r"(%23|%2523|#(?=[a-z]+=))[^\s\"'<>?]+", re.IGNORECASE)


def _redact_query(match: re.Match[str]) -> str:
    parts = []
    for part in match.group(1).split("&"):
        name, equals, _value = part.partition("=")
        if equals and unquote_plus(name).strip().lower() in SECRET_PARAMETERS:
            part = f"{name}={REDACTED}"
        parts.append(part)
    return "?" + "&".join(parts)


def redact(text: str) -> str:
    """``text`` with the values of secret query parameters, and fragments sent in a path, replaced by
    :data:`REDACTED`."""
    if "%" in text or "#" in text:
        text = _FRAGMENT.sub(lambda match: match.group(1) + REDACTED, text)
    if "?" not in text:
        return text
    return _QUERY.sub(_redact_query, text)


class RedactQuerySecrets(logging.Filter):
    """Rewrites a record's message and string arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in args)
        elif isinstance(args, dict):
            record.args = {key: redact(arg) if isinstance(arg, str) else arg for key, arg in args.items()}
        return True


def install() -> None:
    """Attach the redacting filter to uvicorn's loggers (once, however often it is called)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactQuerySecrets) for existing in logger.filters):
            logger.addFilter(RedactQuerySecrets())
