"""CSV and Markdown exports, the figures and one-time export links, through a real server."""

from __future__ import annotations

import csv
import io

from tests.protocol.conftest import Connect
from tests.protocol.test_http import assert_error, http
from tests.support.client import create_room
from tests.support.server import ServerProcess


async def test_csv_markdown_and_figures_are_for_staff_only(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    code = links["room"]
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False)
    ana = await connect(server)
    await ana.join(code, "Anaïs")
    await ana.ok("idea.post", text="=1+1 café")
    assert ana.token is not None
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}

    response = http(server, f"/api/rooms/{code}/export.csv", headers=staff)
    assert response.status == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="{code}.csv"'
    assert response.body.startswith(b"\xef\xbb\xbf")
    header, row = list(csv.reader(io.StringIO(response.body.decode("utf-8-sig"), newline="")))
    assert dict(zip(header, row, strict=True))["text"] == "'=1+1 café"
    assert dict(zip(header, row, strict=True))["author"] == "Anaïs"

    anonymised = http(server, f"/api/rooms/{code}/export.csv?anonymised=1", headers=staff)
    assert "Anaïs" not in anonymised.body.decode("utf-8")
    report = http(server, f"/api/rooms/{code}/export.md", headers=staff)
    assert report.status == 200 and report.headers["content-type"].startswith("text/markdown")
    assert "## Figures" in report.body.decode("utf-8")

    figures = http(server, f"/api/rooms/{code}/figures", headers=staff).json()
    assert (figures["participants"], figures["ideas"], figures["participation_rate"]) == (1, 1, 1.0)

    participant = {"authorization": f"Bearer {ana.token}"}
    for path in ("export.csv", "export.md", "figures"):
        assert_error(http(server, f"/api/rooms/{code}/{path}", headers=participant), 403, "forbidden")
        assert_error(http(server, f"/api/rooms/{code}/{path}"), 401, "invalid_token")


async def test_a_one_time_link_downloads_the_csv_once(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    code = links["room"]
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}
    made = http(server, f"/api/rooms/{code}/export-link?format=csv", method="POST", headers=staff).json()
    assert made["url"].startswith(f"/api/rooms/{code}/export.csv?dl=")
    first = http(server, made["url"])
    assert first.status == 200 and first.body.startswith(b"\xef\xbb\xbf")
    assert_error(http(server, made["url"]), 404, "not_found")
    assert_error(
        http(server, f"/api/rooms/{code}/export-link?format=xls", method="POST", headers=staff),
        400,
        "invalid_command",
    )
