"""Log hygiene: no credential from a URL's query string ever reaches the server's log.

uvicorn logs each request's path with its query string: HTTP requests on the ``uvicorn.access``
logger, WebSocket handshakes on ``uvicorn.error``. :func:`install` attaches a filter to both that
replaces the values of the query parameters named in :data:`SECRET_PARAMETERS` (in any case, percent-
encoded or not) with ``[redacted]`` before the record is formatted.

Tokens travel in links' fragments (``/r/CODE#token=…``), which browsers never send. A link whose ``#``
was percent-encoded on its way (a link rewriter, a chat app, a mail client) sends its fragment in the
path instead (``/r/CODE%23token%3D…``): everything after such an encoded ``#``, up to the query string,
is redacted too.

Below ``info``, two more loggers print what a client sent, and get the same filter:

- at ``debug``, the ``websockets`` library logs every frame (``< TEXT '{"id": …, "type": "auth", "token":
  …}'``): join ids, tokens, passphrases and the ideas' texts. A data frame is logged as its kind and
  length only (``< TEXT [212 bytes]``); control frames (ping, pong, close) as they are;
- at ``trace``, uvicorn logs each request's ASGI scope (``uvicorn.asgi``), whose ``query_string``,
  ``path`` and ``raw_path`` are redacted as above (it already leaves out the headers and bodies).
"""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import unquote_plus

from websockets.frames import Frame, Opcode

__all__ = [
    "LOGGERS",
    "REDACTED",
    "SECRET_PARAMETERS",
    "RedactQuerySecrets",
    "install",
    "parameter_name",
    "redact",
]

#: Query parameters whose values are credentials: tokens, invites, organiser keys, download keys.
SECRET_PARAMETERS: Final = frozenset({"token", "invite", "key", "dl", "passphrase"})
#: What a secret value is replaced with.
REDACTED: Final = "[redacted]"
#: The loggers that print request paths with their query strings, or what clients sent.
LOGGERS: Final = ("uvicorn.access", "uvicorn.error", "uvicorn.asgi", "websockets.server")

_DATA_OPCODES: Final = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})

# A query string: after a "?", up to whitespace, a quote or the end.
_QUERY = re.compile(r"\?([^\s\"'<>]*)")
# A fragment sent in a path: a "#" percent-encoded once or twice (uvicorn quotes the decoded path again),
# or a raw one before a parameter; its content runs up to whitespace, a quote or the query string.
_FRAGMENT = re.compile(r"(%23|%2523|#(?=[a-z]+=))[^\s\"'<>?]+", re.IGNORECASE)


def parameter_name(name: str) -> str:
    """A query parameter's name as a secret is recognised by: decoded, without surrounding white space, in
    lower case, and without the ``amp;`` an HTML-escaped link leaves of its ``&amp;`` (``?a=1&amp;token=``
    sends a parameter ``amp;token``)."""
    return unquote_plus(name).strip().lower().removeprefix("amp;")


def _redact_query(match: re.Match[str]) -> str:
    parts = []
    for part in match.group(1).split("&"):
        name, equals, _value = part.partition("=")
        if equals and parameter_name(name) in SECRET_PARAMETERS:
            part = f"{name}={REDACTED}"
        elif (
            not equals
            and (encoded := part.lower().find("%3d")) > 0
            and parameter_name(part[:encoded]) in SECRET_PARAMETERS
        ):
            part = part[: encoded + 3] + REDACTED  # "invite%3D…": its "=" percent-encoded on its way
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


def _redact_arg(arg: object) -> object:
    """One argument of a log record, as it may be logged."""
    if isinstance(arg, str):
        return redact(arg)
    if isinstance(arg, Frame):
        if arg.opcode in _DATA_OPCODES:
            return f"{arg.opcode.name} [{len(arg.data)} bytes]"
        return arg
    if isinstance(arg, dict) and "query_string" in arg:  # an ASGI scope (uvicorn's trace)
        scope = dict(arg)
        query = scope["query_string"]
        if isinstance(query, bytes) and query:
            scope["query_string"] = redact("?" + query.decode("latin-1"))[1:].encode("latin-1")
        for key in ("path", "raw_path"):
            value = scope.get(key)
            if isinstance(value, str):
                scope[key] = redact(value)
            elif isinstance(value, bytes):
                scope[key] = redact(value.decode("latin-1")).encode("latin-1")
        return scope
    return arg


class RedactQuerySecrets(logging.Filter):
    """Rewrites a record's message and arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in args)
        elif isinstance(args, dict):
            record.args = {key: _redact_arg(arg) for key, arg in args.items()}
        return True


def install() -> None:
    """Attach the redacting filter to uvicorn's loggers (once, however often it is called)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactQuerySecrets) for existing in logger.filters):
            logger.addFilter(RedactQuerySecrets())
