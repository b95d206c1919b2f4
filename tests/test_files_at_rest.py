"""Secrets and files at rest: the data directory is 0700, the SQLite files and the secret are 0600.

Real server processes (tests/support/server.py) on real data directories, started under the most
permissive umask (0) so that nothing is left to the umask; every file and folder is stat'ed.
"""

from __future__ import annotations

import json
import os
import stat
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.client import create_room
from tests.support.server import ServerProcess
from workshop_server.settings import SECRET_FILE_NAME
from workshop_server.storage import DATABASE_FILENAME

#: What a server on SQLite holds while it runs, once a room exists (the secret is generated: no
#: WORKSHOP_SECRET is given).
EXPECTED_FILES = {
    SECRET_FILE_NAME,
    DATABASE_FILENAME,
    f"{DATABASE_FILENAME}-wal",
    f"{DATABASE_FILENAME}-shm",
}


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run the block under ``mask``; child processes started in it inherit it."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def modes(data_dir: Path) -> dict[str, int]:
    """The permission bits of the data directory (as ".") and of everything in it, by relative path."""
    found = {".": stat.S_IMODE(data_dir.stat().st_mode)}
    for item in sorted(data_dir.rglob("*")):
        found[str(item.relative_to(data_dir))] = stat.S_IMODE(item.lstat().st_mode)
    return found


def private(data_dir: Path) -> dict[str, int]:
    """What :func:`modes` must show: the folders 0700, the files 0600."""
    expected = {".": 0o700}
    for item in sorted(data_dir.rglob("*")):
        expected[str(item.relative_to(data_dir))] = 0o700 if item.is_dir() else 0o600
    return expected


def assert_private(data_dir: Path) -> None:
    found = modes(data_dir)
    assert found.keys() >= EXPECTED_FILES, f"the server did not write what this test checks: {found}"
    assert {name: oct(mode) for name, mode in found.items()} == {
        name: oct(mode) for name, mode in private(data_dir).items()
    }


def assert_no_traceback(server: ServerProcess) -> None:
    text = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
    assert "Traceback" not in text, text[-4000:]


def test_a_new_data_directory_and_its_files_are_private(tmp_path: Path) -> None:
    # ServerProcess creates its data_dir before starting the server: point the server at a folder
    # below it that does not exist yet, so that the server itself creates it.
    server = ServerProcess(tmp_path / "run", secret="")
    data_dir = tmp_path / "run" / "data"
    server.settings["data_dir"] = data_dir
    try:
        with umask(0):
            server.start()
        create_room(server.url)
        assert_private(data_dir)
    finally:
        server.stop()
    assert_no_traceback(server)


def test_files_an_older_release_left_open_are_tightened_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, secret="")
    try:
        with umask(0):
            server.start()
            code = create_room(server.url, title="Before the upgrade")["room"]
            server.kill()  # a crash leaves the -wal and -shm files behind
            assert {item.name for item in data_dir.iterdir()} >= EXPECTED_FILES
            # What a release without this protection left under the usual umask 022.
            data_dir.chmod(0o755)
            for item in data_dir.iterdir():
                item.chmod(0o644)
            server.start()
        assert_private(data_dir)
        with urllib.request.urlopen(f"{server.url}/api/rooms/{code}", timeout=10) as response:
            assert json.loads(response.read())["title"] == "Before the upgrade"  # the journal still reads
        create_room(server.url)  # and writable
        assert_private(data_dir)
    finally:
        server.stop()
    assert_no_traceback(server)
