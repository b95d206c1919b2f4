"""The quick start in a real workshop room: the links phones get, and what the server prints about them.

Real server processes. A server listening on 0.0.0.0 is only ever contacted over loopback here.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.client import create_room
from tests.support.server import ServerProcess
from tests.support.waiting import eventually_sync
from workshop_server.netinfo import lan_addresses, phone_hint


def test_on_all_interfaces_links_and_the_banner_use_the_lan_address(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data", host="0.0.0.0") as server:
        links = create_room(server.url)
        log = server.log()
    addresses = lan_addresses()
    if addresses:
        expected = f"http://{addresses[0]}:{server.port}"
        assert links["join_url"] == f"{expected}/j/{links['room']}"
        assert f"Phones on the same network join at {expected}" in log
        assert "localhost" not in links["join_url"]
    else:  # a machine without a network: the banner says how to set the address by hand
        assert "WORKSHOP_PUBLIC_URL" in log


def test_on_loopback_the_banner_says_how_to_let_phones_in(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as server:
        log = server.log()
    assert "Phones cannot open 127.0.0.1" in log
    assert "WORKSHOP_HOST=0.0.0.0 make run" in log


def test_a_public_url_wins() -> None:
    assert phone_hint("0.0.0.0", 8000, "https://workshop.example.org") == [
        "Phones join at https://workshop.example.org (WORKSHOP_PUBLIC_URL)."
    ]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


#: Long enough that the checks made while draining fit in it on a loaded machine.
DRAIN_SECONDS = 8


def test_sigterm_drains_readyz_first_then_stops(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", drain_seconds=DRAIN_SECONDS)
    server.start()
    try:
        assert _status(server.url + "/readyz") == 200
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        # The load balancer stops sending clients: /readyz says 503 once the signal is handled ...
        eventually_sync(lambda: _status(server.url + "/readyz") == 503, "/readyz answers 503")
        assert server.process.poll() is None
        assert _status(server.url + "/healthz") == 200  # ... but the server still serves
        body = json.loads(urllib.request.urlopen(server.url + "/api/server", timeout=10).read())
        assert "create_key_required" in body
        # Stopped as asked: status 0 (uvicorn's own command line raises the signal again: 143).
        assert server.process.wait(timeout=DRAIN_SECONDS + 30) == 0
    finally:
        server.stop()
    assert f"draining for {DRAIN_SECONDS} s" in server.log()


def test_ctrl_c_stops_the_server_with_status_0_and_no_traceback(tmp_path: Path) -> None:
    """An operations review: Ctrl+C on ``make run`` printed a KeyboardInterrupt traceback after a clean
    shutdown, and exited 130 (SIGTERM: 143, killed by the signal uvicorn raised again)."""
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        assert server.process is not None
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    assert "Traceback" not in server.log() and "KeyboardInterrupt" not in server.log()


def test_port_0_picks_a_free_port_and_the_links_name_it(tmp_path: Path) -> None:
    """An operations review: with port 0 ("0 picks a free port") the banner and every link and QR code
    named port 0."""
    env = {**ServerProcess(tmp_path / "data").env(), "WORKSHOP_PORT": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "workshop_server"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().decode()
        assert banner.startswith("Workshop server on http://127.0.0.1:"), banner
        port = int(banner.split("http://127.0.0.1:")[1].split(" ")[0])
        assert port > 0
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return _status(url + "/healthz") == 200
            except urllib.error.URLError:
                return False

        eventually_sync(up, "the server answers on the port it printed")
        assert create_room(url)["join_url"].startswith(f"{url}/j/")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
