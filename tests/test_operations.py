"""What an operator deploying the server runs into: settings it silently ignores, a data directory it
cannot write, failures reported as client errors, settings missing from the documentation.

Real server processes where behaviour is involved."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.conftest import free_port
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server.settings import Settings
from workshop_server.storage import DATABASE_FILENAME

REPO = Path(__file__).resolve().parents[1]


def start_cli(
    tmp_path: Path, seconds: float, *, cwd: Path = REPO, **environment: str
) -> subprocess.CompletedProcess[str] | None:
    """``python -m workshop_server`` with only these ``WORKSHOP_*`` variables, run in ``cwd``: its
    result when it exits within ``seconds``, None when it is still serving then (it is stopped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSHOP_")}
    env.update(
        {
            "WORKSHOP_PORT": str(free_port()),
            "WORKSHOP_DATA_DIR": str(tmp_path / "data"),
            "WORKSHOP_LOG_LEVEL": "warning",
            **environment,
        }
    )
    env.pop("PYTHONASYNCIODEBUG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "workshop_server"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.communicate(timeout=20)
        return None
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


# --- Settings the server does not know ----------------------------------------------------------------
def test_a_misspelled_setting_stops_the_server_with_one_clear_line(tmp_path: Path) -> None:
    """``WORKSHOP_CREATEKEY`` (for WORKSHOP_CREATE_KEY) must not leave room creation open to anyone
    while the operator believes it is closed: an unknown WORKSHOP_* variable is a mistake."""
    result = start_cli(tmp_path, 10, WORKSHOP_CREATEKEY="organiser-key-0123456789abcdef")
    assert result is not None, "the server started and served, ignoring WORKSHOP_CREATEKEY"
    assert result.returncode == 2
    assert "WORKSHOP_CREATEKEY" in result.stderr and "WORKSHOP_CREATE_KEY" in result.stderr
    assert "organiser-key" not in result.stderr  # the value is never echoed
    # Where every setting is listed: --help lists only the few that are flags too (an operations review).
    assert "docs/operations.md" in result.stderr and "--help" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WORKSHOP_CREATE_KEY", ""),  # WORKSHOP_CREATE_KEY=${KEY} with KEY unset: creation was open to all
        ("WORKSHOP_CREATE_KEY", "organiser-key-0123456789\r"),  # an env file written on Windows
        ("WORKSHOP_CREATE_KEY", "clé-organisateur-0123456789"),
        ("WORKSHOP_OPS_KEY", " operator-key-0123456789"),
    ],
)
def test_a_key_no_client_can_send_stops_the_server_with_one_line(
    tmp_path: Path, variable: str, value: str
) -> None:
    """Keys travel in an Authorization header: printable ASCII, without the spaces at either end (a
    server strips them, browsers refuse other characters). Such a key was taken as it was and never
    matched, every creation refused as 'the organiser key is wrong', and an empty organiser key left
    room creation open to anyone, the server saying nothing either way."""
    result = start_cli(tmp_path, 10, **{variable: value})
    assert result is not None, f"the server started and served with {variable}={value!r}"
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"workshop-server: {variable}: "), result.stderr
    if value.strip():
        assert value.strip() not in result.stderr  # the value is never echoed


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WORKSHOP_PUBLIC_URL", "http://workshop.example.org:80800"),  # every request failed: a 500
        ("WORKSHOP_PUBLIC_URL", "https://workshop example.org"),
        ("WORKSHOP_ALLOWED_ORIGINS", "https://board.example.org:99999"),  # could never match
    ],
)
def test_a_url_with_no_valid_port_or_host_stops_the_server_with_one_line(
    tmp_path: Path, variable: str, value: str
) -> None:
    """public_url with a port past 65535 was accepted, then every request (/healthz too) failed with a
    traceback when the security headers read the port; an allowed origin no browser sends never matched."""
    result = start_cli(tmp_path, 10, **{variable: value})
    assert result is not None, f"the server started and served with {variable}={value!r}"
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"workshop-server: {variable}: "), result.stderr


@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_data_directory_stops_the_server_with_one_line(tmp_path: Path, value: str) -> None:
    """``WORKSHOP_DATA_DIR=${DIR}`` with ``DIR`` unset: the server took the empty path for the current
    directory, kept its journal and secret there (in Docker: the image's /app, not the volume, lost with
    the container) and made that directory private (0700)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir(mode=0o755)
    result = start_cli(tmp_path, 10, cwd=cwd, WORKSHOP_DATA_DIR=value)
    assert result is not None, "the server started and served from its working directory"
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workshop-server: WORKSHOP_DATA_DIR: "), result.stderr
    assert list(cwd.iterdir()) == [] and (cwd.stat().st_mode & 0o777) == 0o755


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "10.0.0.1:8080", "proxy.internal", "10.0.0.256"])
def test_trusted_proxies_that_are_no_address_or_network_are_refused(entry: str) -> None:
    """Such an entry is silently compared as a literal and never matches: every client behind the
    proxy then shares the proxy's address, so one venue shares 30 rooms an hour, 50 commands per
    second into a room, and one guesser's wrong passphrases lock every participant out."""
    with pytest.raises(ValidationError) as caught:
        Settings.with_overrides({"trusted_proxies": f"10.1.2.3,{entry}"})
    assert [error["loc"] for error in caught.value.errors()] == [("trusted_proxies",)]


# --- A data directory the server cannot write ---------------------------------------------------------
@pytest.fixture
def small_mount(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A tmpfs mounted at ``tmp_path/mnt`` (root only: skipped otherwise), unmounted at the end."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a file system needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=False)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_read_only_data_directory_after_a_crash_stops_the_server_at_start(small_mount: Path) -> None:
    """ext4's errors=remount-ro after a crash: the database's -wal and -shm files are still there, so
    SQLite opens it read-only. The start-up check must refuse it like an unwritable new directory,
    not report the server ready (``/readyz`` 200) while every write fails."""
    data = small_mount / "data"
    server = ServerProcess(data)
    server.start()
    create_room(server.url)
    server.kill()  # a crash: the -wal and -shm files stay
    assert (data / (DATABASE_FILENAME + "-shm")).exists()
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    try:
        result = start_cli(
            small_mount, 10, WORKSHOP_DATA_DIR=str(data), WORKSHOP_SECRET=server.env()["WORKSHOP_SECRET"]
        )
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_mount)], check=False)
    assert result is not None, "the server started on a read-only database"
    assert result.returncode == 2
    assert "cannot use the database" in result.stderr


# --- The documentation of the settings ----------------------------------------------------------------
def test_every_setting_is_documented_for_operators_with_its_variable_and_default() -> None:
    """The operator documentation (docs/*.md, protocol.md) names every setting's WORKSHOP_* variable
    in a table row that also gives its default."""
    pages = [*sorted((REPO / "docs").glob("*.md")), REPO / "protocol.md"]
    text = "\n".join(path.read_text() for path in pages)
    rows = [line for line in text.splitlines() if line.startswith("|")]
    missing = []
    for name in Settings.model_fields:
        variable = f"WORKSHOP_{name.upper()}"
        if not any(re.search(rf"`{variable}`", row) for row in rows):
            missing.append(variable)
    assert missing == [], f"no table row documents {missing}"


# --- Two processes on one data directory without a shared broker --------------------------------------
async def test_a_second_memory_broker_server_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    """A rolling update (the new process starts while the old one drains), or `make run` started twice:
    two processes with the memory broker on one journal. Each serves the rooms it loads as if it were
    alone; what a participant does on one is never shown live to those on the other."""

    first = ServerProcess(tmp_path / "data")
    first.start()
    second = ServerProcess(tmp_path / "data")
    try:
        try:
            second.start()
        except RuntimeError:
            return  # refused: the behaviour asked for
        links = create_room(first.url)
        room, staff = links["room"], links["facilitator_token"]
        facilitator = await Client.connect(first.ws_url)
        await facilitator.auth(staff)
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=None, private=False)
        ana, bea = await Client.connect(first.ws_url), await Client.connect(second.ws_url)
        await ana.join(room, "Ana")
        await bea.join(room, "Bea")
        await bea.ok("idea.post", text="posted on the second process")
        try:
            await ana.wait_for("idea.posted", timeout=3)
            seen = True
        except TimeoutError:
            seen = False
        for client in (ana, bea, facilitator):
            await client.close()
        pytest.fail(
            "a second server with the memory broker started on the same data directory"
            + ("" if seen else "; a participant of the first never saw the idea posted on the second")
        )
    finally:
        second.stop()
        first.stop()


@pytest.mark.parametrize("field", ["idle_timeout", "dedupe_window_seconds"])
def test_an_infinite_duration_is_refused(field: str) -> None:
    """``inf`` passes ``ge=0`` and reaches clients as ``null`` in ``hello.limits`` (JSON has no
    infinity), where protocol.md promises a number; 0 already means "never"."""
    with pytest.raises(ValidationError):
        Settings.with_overrides({field: "inf"})


# --- The address phones get -----------------------------------------------------------------------------
def test_the_address_phones_get_is_not_a_docker_network_bridge(monkeypatch: pytest.MonkeyPatch) -> None:
    """An organiser's laptop that runs Docker has a bridge per compose network (br-<id>, 172.18.0.1 and
    up; only docker0's 172.17.0.0/16 is left out). `WORKSHOP_HOST=0.0.0.0 make run` must print, and put
    in every link and QR code, the Wi-Fi address, not the bridge's, which no phone can reach."""
    import fcntl
    import socket

    from workshop_server import netinfo

    interfaces = {"lo": "127.0.0.1", "br-3f2a9c1d7e5b": "172.18.0.1", "wlp2s0": "192.168.1.20"}

    def ioctl(fd: int, request: int, argument: bytes) -> bytes:
        name = argument[:16].rstrip(b"\0").decode()
        return b"\0" * 20 + socket.inet_aton(interfaces[name]) + b"\0" * 8

    monkeypatch.setattr(socket, "if_nameindex", lambda: list(enumerate(interfaces, 1)))
    monkeypatch.setattr(fcntl, "ioctl", ioctl)
    netinfo.lan_addresses.cache_clear()
    try:
        assert netinfo.lan_addresses()[0] == "192.168.1.20"
        assert Settings.with_overrides({"host": "0.0.0.0"}).base_url == "http://192.168.1.20:8000"
    finally:
        netinfo.lan_addresses.cache_clear()


def test_the_default_compose_service_says_which_address_phones_open() -> None:
    """Inside a container the server only sees its compose network (eth0, 172.18.0.2): without
    WORKSHOP_PUBLIC_URL every join link and QR code of `docker compose up` carries that address, which
    no phone reaches (the scaled service sets it; the default one does not)."""
    text = (REPO / "docker-compose.yml").read_text()
    services = re.split(
        r"\n  (?=[a-z][a-z-]*:\n)", text.split("\nservices:\n", 1)[1].split("\nvolumes:\n")[0]
    )
    default = next(block for block in services if block.lstrip().startswith("workshop:"))
    assert "WORKSHOP_PUBLIC_URL" in default, default


async def test_a_full_disk_under_live_rooms_loses_nothing_acknowledged_and_the_room_recovers(
    small_mount: Path,
) -> None:
    """The data directory's file system fills while a room is live (an 8 MiB tmpfs, then a file that
    takes the rest). Nothing acknowledged is lost; the command that met the full disk is not
    acknowledged (the room fails: 4003, or a temporary error); ``/healthz`` fails; the log (at
    ``warning``, no access log) names the room and SQLite's error; once space returns, the room loads
    again and the command resent with its id is applied once."""
    from tests.durability import http_get
    from tests.support.client import Client

    server = ServerProcess(small_mount / "data")
    server.start()
    try:
        links = create_room(server.url)
        fay = await Client.connect(server.ws_url)
        await fay.auth(links["facilitator_token"])
        await fay.ok("round.open", kind="ideate", prompt="Ideas?", duration=None, private=False)
        ana = await Client.connect(server.ws_url)
        await ana.join(links["room"], "Ana")
        await ana.ok("idea.post", text="before the disk filled")
        filler = small_mount / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], check=False, capture_output=True)
        try:
            reply = await ana.call("idea.post", text="while the disk is full", id="post-when-full")
        except ConnectionError:
            reply = {"type": "closed"}
        assert reply["type"] != "ok", reply
        assert reply["type"] == "closed" or reply.get("temporary") is True, reply
        status, health = http_get(server.url + "/healthz")
        assert status == 503 and not health["storage"]["ok"], health
        filler.unlink()
        again = await Client.connect(server.ws_url)
        await again.auth(ana.token or "")
        for _ in range(2):  # resent twice: applied once
            resent = await again.call("idea.post", text="while the disk is full", id="post-when-full")
            assert resent["type"] == "ok", resent
        board = await Client.connect(server.ws_url)
        texts = [idea["text"] for idea in (await board.auth(links["facilitator_token"]))["snapshot"]["ideas"]]
        assert texts == ["before the disk filled", "while the disk is full"]
        for client in (fay, ana, again, board):
            await client.close()
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert f"room {links['room']}: the journal failed" in log and "disk is full" in log, log[-3000:]
    assert "Ana" not in log and "before the disk filled" not in log


def run_purge(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSHOP_")}
    env.pop("PYTHONASYNCIODEBUG", None)
    env["WORKSHOP_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "workshop_server", "purge"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_purge_by_hand_is_refused_while_a_memory_broker_server_runs_on_its_data(tmp_path: Path) -> None:
    """The running server would never hear of the rooms purged under it: it went on serving their names
    and ideas from memory (exports and resumes included) until the room next wrote."""
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        create_room(server.url)
        refused = run_purge(tmp_path / "data")
    finally:
        server.stop()
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workshop-server: cannot purge now: another server uses")
    assert "PURGE_EVERY_SECONDS" in lines[0]
    stopped = run_purge(tmp_path / "data")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("workshop-server: purged 0 room(s)")


def test_a_purge_by_hand_on_a_directory_with_no_database_fails_and_creates_nothing(tmp_path: Path) -> None:
    """An operations review: ``workshop-server purge --data-dir`` with a mistyped directory made a new,
    empty database (and secret) there, printed "purged 0 room(s)" and exited 0, so a cron job with a
    wrong path looked fine for ever."""
    wrong = tmp_path / "typo"
    refused = run_purge(wrong)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"workshop-server: there is no database at {wrong / 'workshop.sqlite3'} (is --data-dir right?)"
    )
    assert not wrong.exists()


def test_a_port_in_use_stops_the_server_with_one_line_naming_the_address_before_the_banner(
    tmp_path: Path,
) -> None:
    """An operations review: the server started its app and printed "Workshop server on ... open it in a
    browser" before uvicorn's bind error ("[Errno 98] Address already in use", naming no setting)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServerProcess(tmp_path / "data", port=port)
        result = subprocess.run(
            [sys.executable, "-m", "workshop_server"],
            env=server.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.strip() == (
        f"workshop-server: cannot listen on 127.0.0.1 port {port} (WORKSHOP_HOST, WORKSHOP_PORT):"
        " Address already in use"
    )


def test_an_unreachable_redis_stops_the_server_with_one_line_and_status_3(tmp_path: Path) -> None:
    """It printed two workers' tracebacks (132 lines) after 'Uvicorn running on ...'; the URL's password
    is never echoed."""
    port = free_port()  # nothing listens there
    result = start_cli(
        tmp_path,
        60,
        WORKSHOP_BROKER="redis",
        WORKSHOP_REDIS_URL=f"redis://:hunter2-secret@127.0.0.1:{port}/0",
        WORKSHOP_WORKERS="2",
    )
    assert result is not None, "the server kept running without its Redis"
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("workshop-server: cannot connect to redis") and f"{port}" in lines[0]
    assert "hunter2" not in result.stderr + result.stdout
    assert "Uvicorn running" not in result.stderr + result.stdout


@pytest.mark.redis
def test_redis_over_a_unix_socket_serves(tmp_path: Path) -> None:
    """``redis_url`` takes ``unix://`` (settings.py), but every worker died at start with a traceback:
    the broker asked redis-py for TCP keepalive, which its Unix socket connections do not take."""
    import json
    import time
    import urllib.request

    from tests.conftest import redis_binary, stop_process

    socket_path = tmp_path / "redis.sock"
    options = ["--port", "0", "--unixsocket", str(socket_path), "--save", "", "--appendonly", "no"]
    redis = subprocess.Popen(
        [redis_binary(), *options],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        server = ServerProcess(tmp_path / "data", broker="redis", redis_url=f"unix://{socket_path}")
        try:
            server.start()
            assert create_room(server.url)["room"]
            with urllib.request.urlopen(server.url + "/healthz", timeout=10) as response:
                assert json.load(response)["broker"]["ok"] is True
        finally:
            server.stop()
        assert "Traceback" not in server.log(), server.log()
    finally:
        stop_process(redis)
