"""Write the files generated from the code: ``protocol.schema.json`` (the JSON Schema of the wire protocol)
and ``web/contract.js`` (the registries the web app uses: round-bound commands, statuses and their
transitions).

Usage: ``python scripts/gen_schema.py`` from anywhere; ``--check`` only reports whether the files are
up to date (exit status 1 when one is not). ``tests/test_protocol_doc.py`` fails when a checked-in file
differs from :func:`workshop_server.protocol.json_schema_text` or
:func:`workshop_server.protocol.web_contract_text`.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "protocol.schema.json"
CONTRACT = REPO / "web" / "contract.js"


def main(argv: list[str]) -> int:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # also works without an installed package
    from workshop_server.protocol import json_schema_text, web_contract_text

    status = 0
    for path, text in ((SCHEMA, json_schema_text()), (CONTRACT, web_contract_text())):
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if "--check" in argv:
            if current != text:
                print(f"{path.name} is out of date: run python scripts/gen_schema.py", file=sys.stderr)
                status = 1
        elif current != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        else:
            print(f"{path} is up to date")
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
