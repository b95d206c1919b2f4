"""Claims of the documentation that can be read from the code (as ``tests/test_protocol_doc.py`` does
for protocol.md's lists): HTTP statuses, internal commands and effects, the storage errors, the
``round`` guard, metric labels, the web tests, epochs, and the operations tables.

Each test of the first group failed on the docs as they were after the changes of 2026-11-27."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import workshop_server
from tests.test_protocol_doc import command_sections, section
from workshop_server import app, errors
from workshop_server.rooms import commands as c
from workshop_server.storage import journal

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(workshop_server.__file__).resolve().parent


def read(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


def flat(text: str) -> str:
    return " ".join(text.split())


# --- protocol.md ---------------------------------------------------------------------------------------
def test_the_http_api_names_the_status_of_every_code_the_server_maps() -> None:
    """``app.STATUS`` gives each error code its HTTP status; the HTTP API section lists them, and any
    code not listed is said to be 400."""
    intro = flat(section("HTTP API").split("\n### ", 1)[0])
    listed: dict[str, int] = {}
    for status, inside in re.findall(r"\b(\d{3}) \(((?:[^()]|\([^()]*\))*)\)", intro):
        for code in re.findall(r"`([a-z_]+)`", inside):
            listed.setdefault(code, int(status))
    wrong = {
        code: (status, listed.get(code))
        for code, status in app.STATUS.items()
        if listed.get(code, 400) != status
    }
    assert not wrong, f"code: (app.STATUS, protocol.md) {wrong}"


def test_every_command_with_a_round_field_lists_round_closed_among_its_errors() -> None:
    models = {cls.type_name(): cls for cls in c.Command.__subclasses__()}
    missing = [
        name
        for name, body in command_sections().items()
        if "round" in models[name].model_fields and "`round_closed`" not in body.split("**Errors:**", 1)[-1]
    ]
    assert not missing, f"commands whose Errors do not list round_closed: {missing}"


# --- architecture.md, durability.md ----------------------------------------------------------------------
def internal_command_types() -> set[str]:
    return {
        cls.model_fields["type"].default
        for cls in c.Command.__subclasses__()
        if str(cls.model_fields["type"].default).startswith("_")
    }


def effect_kinds() -> set[str]:
    kinds: set[str] = set()
    for path in (PACKAGE / "rooms").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Effect"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                kinds.add(str(node.args[0].value))
    assert {"close", "revoke", "refresh"} <= kinds, kinds
    return kinds


def test_architecture_names_every_internal_command() -> None:
    doc = read("docs/architecture.md")
    missing = sorted(name for name in internal_command_types() if f"`{name}`" not in doc)
    assert not missing, f"internal commands architecture.md does not name: {missing}"


def test_architecture_names_every_effect() -> None:
    bullet = flat(read("docs/architecture.md").split("* **Effects**", 1)[1].split("\n* ", 1)[0])
    missing = sorted(kind for kind in effect_kinds() if f"`{kind}`" not in bullet)
    assert not missing, f"effects the Effects bullet of architecture.md does not name: {missing}"


def test_durability_lists_the_storage_errors_as_the_code_defines_them() -> None:
    errors_section = read("docs/durability.md").split("\n## Errors", 1)[1].split("\n## ", 1)[0]
    bullets = set(re.findall(r"^\* `(\w+)`", errors_section, flags=re.MULTILINE))
    subclasses = {
        name
        for name, cls in inspect.getmembers(journal, inspect.isclass)
        if issubclass(cls, journal.StorageError) and cls is not journal.StorageError
    }
    assert bullets == subclasses, f"listed {sorted(bullets)}, StorageError's subclasses {sorted(subclasses)}"
    assert not issubclass(journal.RoomNotStored, journal.StorageError)
    assert issubclass(journal.RoomNotStored, errors.RoomNotFound)


def test_no_doc_describes_epochs_as_consecutive_numbers() -> None:
    """Epochs are at least the wall clock in milliseconds (``host.next_epoch``), not "1", "2", ..."""
    for name in ("protocol.md", "docs/scaling.md", "docs/durability.md", "docs/architecture.md"):
        assert not re.search(r'`"1"`, `"2"`', read(name)), name


# --- web.md, operations.md ---------------------------------------------------------------------------------
def test_web_md_describes_every_browser_test() -> None:
    doc = read("docs/web.md")
    missing = sorted(p.name for p in (REPO / "tests" / "web").glob("test_*.py") if f"`{p.name}`" not in doc)
    assert not missing, f"browser tests without a row in docs/web.md: {missing}"


def test_the_web_app_sends_no_more_commands_ahead_than_the_server_surely_remembers() -> None:
    """net.js's SEND_WINDOW is the room's DEDUPE_FLOOR, the "last 16" protocol.md and web.md give."""
    from workshop_server.rooms.room import DEDUPE_FLOOR

    window = re.search(r"export const SEND_WINDOW = (\d+);", read("web/net.js"))
    assert window is not None and int(window.group(1)) == DEDUPE_FLOOR
    assert f"last {DEDUPE_FLOOR} replies" in flat(read("docs/web.md"))
    assert f"last {DEDUPE_FLOOR}**" in flat(read("protocol.md"))


def test_the_metrics_table_of_operations_md_is_one_table() -> None:
    """A blank line inside a Markdown table ends it: the rows after it render as a paragraph."""
    lines = read("docs/operations.md").splitlines()
    rows = [n for n, line in enumerate(lines) if line.startswith("| `workshop_")]
    assert rows == list(range(rows[0], rows[-1] + 1)), "a blank line splits the metrics table"


def metric_row(name: str) -> str:
    row = next(line for line in read("docs/operations.md").splitlines() if line.startswith(f"| `{name}`"))
    return row


def literal_calls(method: str) -> set[str]:
    """First string arguments of every ``<anything>.<method>("...")`` call, or ``<method>("...")``
    call, in the package."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and (
                    (isinstance(node.func, ast.Attribute) and node.func.attr == method)
                    or (isinstance(node.func, ast.Name) and node.func.id == method)
                )
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    return found


def test_every_metric_label_value_the_code_uses_is_documented() -> None:
    guard_reasons = set(re.findall(r'return "([a-z_]+)"', (PACKAGE / "guard.py").read_text()))
    guard_reasons.discard("unix")  # not a refusal (an address family)
    # Read as code, not by a pattern: a comment after ``SharedLimiter(`` hid member_pages from one.
    limiter_names = literal_calls("SharedLimiter") | literal_calls("KeyedLimiter")
    expected = {
        "workshop_handshakes_refused_total": literal_calls("handshake_refused")
        | literal_calls("refused")  # Admission.refused, which counts them
        | guard_reasons
        | {"connections_per_ip"},
        "workshop_rate_limited_total": literal_calls("rate_limited")
        | literal_calls("_count_limited")
        | limiter_names,
        "workshop_cluster_events_total": literal_calls("cluster"),
    }
    problems = []
    for metric, values in expected.items():
        row = metric_row(metric)
        problems += [f"{metric}{{{value}}}" for value in sorted(values) if f"`{value}`" not in row]
    assert not problems, f"label values docs/operations.md does not name: {problems}"
