"""protocol.md after the security review's per-address changes (2abde21)."""

from __future__ import annotations

import re
from pathlib import Path

PROTOCOL = (Path(__file__).resolve().parent.parent / "protocol.md").read_text()


def section(heading: str) -> str:
    match = re.search(rf"^### `{re.escape(heading)}`$(.*?)(?=^### |\Z)", PROTOCOL, flags=re.M | re.S)
    assert match is not None, heading
    return match.group(1)


def test_auth_lists_rate_limited_among_its_errors() -> None:
    """Since 2abde21 an ``auth`` spends from its address's budget in the room (host.py) and is refused
    ``rate_limited`` past it (a venue of a few hundred phones behind one address reconnecting after a
    restart gets it); the contract's ``auth`` section does not list it, nor does the
    ``ip_commands_per_second`` row ("joins included")."""
    errors = section("auth").split("**Errors:**", 1)[1]
    assert "rate_limited" in errors
    row = next(line for line in PROTOCOL.splitlines() if line.startswith("| `ip_commands_per_second`"))
    assert "auth" in row


def test_the_per_address_paragraph_does_not_say_proxied_connections_have_no_pending_share() -> None:
    """The ``max_connections_per_ip`` row says a proxied WebSocket's pending connection counts against
    ``max_pending_per_ip`` of the forwarded address (guard.Ticket.rekey, and
    tests/protocol/test_address_limits.py shows it); the paragraph under the table still says
    "Connections from a trusted proxy have no per-address share of the pending connections". The
    advice for a venue behind one address names ``ip_commands_per_second`` and
    ``lookups_per_ip_per_minute`` only, not the caps a reconnect storm of such a venue now meets
    (``max_pending_per_ip``, ``ip_command_burst``)."""
    paragraph = PROTOCOL.split("**Per-address limits.**", 1)[1].split("\n\n", 1)[0]
    assert "Connections from a trusted proxy have no per-address share" not in paragraph
    assert "max_pending_per_ip" in paragraph and "ip_command_burst" in paragraph
