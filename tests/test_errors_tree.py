"""The drawing of the exception tree in ``errors.py``'s docstring is the tree the code defines."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import workshop_server
from workshop_server import errors

LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>\w+) \((?P<code>\w+)\)(?: \[(?P<module>[\w.]+)\])?$")


def drawn_edges() -> set[tuple[str, str, str, str]]:
    """(parent, child, child's code, child's module) for every line of the docstring's drawing."""
    block = [line[4:] for line in (errors.__doc__ or "").splitlines() if line.startswith("    ")]
    edges: set[tuple[str, str, str, str]] = set()
    stack: list[str] = []
    for line in block:
        match = LINE.match(line)
        assert match is not None, f"not a line of the tree: {line!r}"
        depth = len(match["indent"]) // 4
        del stack[depth:]
        module = match["module"] or "errors"
        edges.add((stack[-1] if stack else "", match["name"], match["code"], module))
        stack.append(match["name"])
    return edges


def code_edges() -> set[tuple[str, str, str, str]]:
    for module in pkgutil.walk_packages(workshop_server.__path__, "workshop_server."):
        importlib.import_module(module.name)  # classes defined in other modules join the tree
    edges = {("", "WorkshopError", errors.WorkshopError.code, "errors")}
    stack: list[type[errors.WorkshopError]] = [errors.WorkshopError]
    while stack:
        parent = stack.pop()
        for child in parent.__subclasses__():
            module = child.__module__.removeprefix("workshop_server.")
            edges.add((parent.__name__, child.__name__, child.code, module))
            stack.append(child)
    return edges


def test_the_docstring_draws_every_error_class() -> None:
    assert drawn_edges() == code_edges()


def test_the_schema_lists_every_error_code_a_client_can_receive() -> None:
    """``Error.code`` in the generated JSON Schema was a bare string: a client generated from the
    schema knew no code. It lists ``errors.CODES``, which holds the code of every class of the tree,
    those defined in other modules included."""
    code_edges()  # import every module, so that every class of the tree is defined
    assert set(errors.all_error_codes()) == set(errors.CODES)
    schema = json.loads((Path(__file__).parents[1] / "protocol.schema.json").read_text(encoding="utf-8"))
    definitions = schema.get("$defs") or schema.get("definitions")
    assert definitions["Error"]["properties"]["code"]["enum"] == list(errors.CODES)
