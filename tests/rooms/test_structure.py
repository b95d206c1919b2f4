"""The room core's structural rules, read from its source: it does no I/O and reads no clock, and
statuses are enums that move only along their transition tables (see ``docs/architecture.md``).

Each test covers a whole class of mistake, so that a new handler or projection cannot slip one in.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from workshop_server.rooms import state

PACKAGE = Path(__file__).resolve().parents[2] / "workshop_server"
ROOMS = PACKAGE / "rooms"

#: What the room core may import: pure computation only (no asyncio, sockets, files, clock, randomness,
#: logging, threads, Redis or SQLite). ``datetime`` formats a given time; reading the clock with it is
#: refused below.
ALLOWED_IMPORTS = frozenset(
    {
        "__future__",
        "bisect",
        "collections.abc",
        "csv",
        "dataclasses",
        "datetime",
        "enum",
        "hashlib",
        "hmac",
        "heapq",
        "html",
        "io",
        "itertools",
        "math",
        "pydantic",
        "re",
        "typing",
        "unicodedata",
        "workshop_server.close_codes",
        "workshop_server.errors",
    }
)
#: Calls that read the clock or the environment, whatever module they come from.
CLOCK_CALLS = frozenset({"now", "utcnow", "today", "time", "monotonic", "perf_counter", "getenv"})

#: Every status value of the room core (rounds, members, ideas, follow-up statuses, replies, ...).
STATUS_ENUMS = (
    state.RoundStatus,
    state.MemberStatus,
    state.IdeaState,
    state.IdeaStatus,
    state.ReplyState,
    state.EvaluationStatus,
    state.PulseStatus,
)
STATUS_VALUES = frozenset(str(member.value) for enum in STATUS_ENUMS for member in enum)


def sources(root: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', 0)}: {ast.unparse(node)}"


def test_the_room_core_imports_nothing_that_does_io() -> None:
    found = []
    for path, tree in sources(ROOMS):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                module = node.module or ""
                # ``from workshop_server import errors`` imports the module ``workshop_server.errors``
                names = [f"{module}.{a.name}" if module == "workshop_server" else module for a in node.names]
            else:
                continue
            for name in names:
                if name not in ALLOWED_IMPORTS and not name.startswith(
                    ("workshop_server.rooms", "pydantic.")
                ):
                    found.append(where(path, node))
    assert not found, "the room core imports modules that may do I/O:\n" + "\n".join(found)


def test_the_room_core_reads_no_clock() -> None:
    found = [
        where(path, node)
        for path, tree in sources(ROOMS)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_CALLS
    ]
    assert not found, "the room core reads the clock (time is the `now` argument):\n" + "\n".join(found)


def status_side(node: ast.expr) -> bool:
    """``x.status``, ``x.state``, ``x["status"]`` or ``x["state"]``."""
    if isinstance(node, ast.Attribute):
        return node.attr in ("status", "state")
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.slice, ast.Constant)
        and node.slice.value in ("status", "state")
    )


def status_literals(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & STATUS_VALUES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(status_literals(e) for e in node.elts))
    return set()


def test_no_status_is_compared_with_a_bare_string() -> None:
    """Anywhere in the server: a status is compared with its enum (``MemberStatus.ACTIVE``), so that a
    renamed or misspelled status fails at import, not silently at run time."""
    found = []
    for path, tree in sources(PACKAGE):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            if any(status_side(s) for s in sides) and any(status_literals(s) for s in sides):
                found.append(where(path, node))
    assert not found, "statuses compared with bare strings:\n" + "\n".join(found)


def test_every_status_change_goes_through_its_transition_table() -> None:
    """In a handler, a status or state is only ever assigned ``move(TABLE, current, target, ...)``:
    a transition that is not in its table is ``invalid_transition``, never applied."""
    found = []
    for path, tree in sources(ROOMS):
        if path.name == "state.py":  # the dataclasses' own __post_init__ (plain strings to enums)
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not any(isinstance(t, ast.Attribute) and t.attr in ("status", "state") for t in targets):
                continue
            value = node.value
            moved = (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "move"
            )
            if not moved:
                found.append(where(path, node))
    assert not found, "statuses set without their transition table (`move`):\n" + "\n".join(found)


def test_the_scans_find_what_they_look_for() -> None:
    """The scans above are not vacuous: the handlers do move statuses, and views do compare them."""
    moves = [
        node
        for _, tree in sources(ROOMS)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "move"
    ]
    assert len(moves) >= 15
    assert status_literals(ast.parse('("banned", "x")', mode="eval").body) == {"banned"}
    assert status_side(ast.parse('m["status"]', mode="eval").body)
