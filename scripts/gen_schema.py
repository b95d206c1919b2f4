"""Write ``protocol.schema.json`` (the JSON Schema of the wire protocol) from the code.

Usage: ``python scripts/gen_schema.py`` from anywhere; ``--check`` only reports whether the file is
up to date (exit status 1 when it is not). ``tests/test_protocol_doc.py`` fails when the checked-in file
differs from :func:`workshop_server.protocol.json_schema_text`.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "protocol.schema.json"


def main(argv: list[str]) -> int:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # also works without an installed package
    from workshop_server.protocol import json_schema_text

    text = json_schema_text()
    current = SCHEMA.read_text(encoding="utf-8") if SCHEMA.exists() else None
    if "--check" in argv:
        if current != text:
            print(f"{SCHEMA.name} is out of date: run python scripts/gen_schema.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        SCHEMA.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA}")
    else:
        print(f"{SCHEMA} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
