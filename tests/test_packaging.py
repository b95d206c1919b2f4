"""Packaging and CI: the Docker image, the compose file, the pinned versions, and what CI runs.

The compose file is validated by the real tools: Debian's ``docker-compose`` 1.29 (``make system-deps``
installs it; it needs no Docker engine for ``config``), and ``docker compose`` v2 where that plugin is
installed. The Dockerfile's HEALTHCHECK command is run as written against a real server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import require
from tests.support.server import ServerProcess

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
CONSTRAINTS = REPO / "constraints.txt"
PROJECT = "workshop-server"
#: Extras of the project that CI installs (the Makefile's `-e '.[test]'`).
EXTRAS = ("test",)


def run(command: list[str], **extra_env: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in the repository, without the caller's COMPOSE_* and DOCKER_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    return subprocess.run(
        command,
        cwd=REPO,
        env={**env, **extra_env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- docker-compose.yml -------------------------------------------------------------------------------
def test_compose_file_is_valid_for_debian_docker_compose_1() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        require("docker-compose", "not installed (make system-deps installs Debian's docker-compose)")
    version = run([binary, "version", "--short"])
    result = run([binary, "--file", str(COMPOSE_FILE), "config", "--quiet"])
    assert result.returncode == 0, f"docker-compose {version.stdout.strip()}: {result.stderr}"
    # Every profile too (Redis and the server with several workers only exist under --profile scaled).
    result = run([binary, "--file", str(COMPOSE_FILE), "--profile", "scaled", "config", "--services"])
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"workshop", "redis", "workshop-scaled"}


# Docker Compose v2 cannot run here: Debian packages only 1.29, and v2 ships through Docker's own
# repositories, which this project's machines cannot reach. The file keeps to what both read (no
# top-level ``name``, profiles and healthcheck conditions from the Compose Specification); 1.29 checks it.


# --- Dockerfile and .dockerignore ----------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's command, in exec form (the slim image has no shell tools worth relying on)."""
    checks = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1, f"the Dockerfile needs exactly one HEALTHCHECK, found {checks}"
    options, separator, command = checks[0].partition("CMD ")
    assert separator, f"HEALTHCHECK without CMD: {checks[0]}"
    assert all(option.startswith("--") for option in options.split()), options
    argv = json.loads(command)
    assert isinstance(argv, list) and all(isinstance(part, str) for part in argv), command
    return argv


def test_the_healthcheck_asks_healthz_without_curl(tmp_path: Path) -> None:
    argv = healthcheck_command()
    assert argv[0] == "python", "the slim image has python, not curl or wget"
    assert "/healthz" in " ".join(argv)
    local = [sys.executable, *argv[1:]]
    server = ServerProcess(tmp_path / "data")
    try:
        server.start()
        healthy = run(local, WORKSHOP_PORT=str(server.port))
        assert healthy.returncode == 0, healthy.stderr
    finally:
        server.stop()
    # Nothing listens there any more: the check must report the container unhealthy.
    unhealthy = run(local, WORKSHOP_PORT=str(server.port))
    assert unhealthy.returncode != 0


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """``(excludes, pattern)`` for each line of .dockerignore, in order (the last match wins)."""
    patterns: list[tuple[bool, re.Pattern[str]]] = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        glob = line.lstrip("!").strip().strip("/")
        regex = ""
        index = 0
        while index < len(glob):
            if glob.startswith("**/", index):
                regex, index = regex + "(?:.*/)?", index + 3
            elif glob.startswith("**", index):
                regex, index = regex + ".*", index + 2
            elif glob[index] == "*":
                regex, index = regex + "[^/]*", index + 1
            elif glob[index] == "?":
                regex, index = regex + "[^/]", index + 1
            elif glob[index] == "[":
                end = glob.index("]", index)
                regex, index = regex + glob[index : end + 1], end + 1
            else:
                regex, index = regex + re.escape(glob[index]), index + 1
        patterns.append((excludes, re.compile(regex)))
    return patterns


def ignored(path: str) -> bool:
    """Whether the Docker build context leaves ``path`` (relative, with /) out: the path or a parent of
    it matches, as Docker does."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: count + 1]) for count in range(len(parts))]
    result = False
    for excludes, pattern in dockerignore_patterns():
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            result = excludes
    return result


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    for path in [
        ".venv/bin/python",
        "data/workshop.sqlite3",
        "data/secret",
        ".git/HEAD",
        "tests/artifacts/screen.png",
        "bench/results/quick.json",
        "workshop_server/__pycache__/app.cpython-311.pyc",
        ".mypy_cache/3.11/cache.db",
        ".pytest_cache/v/cache",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
    ]:
        assert ignored(path), f"{path} would be sent to the Docker build"


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    sources = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY":
            words = [word for word in shlex.split(arguments) if not word.startswith("--")]
            sources.extend(word.rstrip("/") for word in words[:-1])
    assert {"pyproject.toml", "constraints.txt", "workshop_server", "web"} <= set(sources)
    tracked = run(["git", "ls-files", "-z", "--", *sources])
    assert tracked.returncode == 0, tracked.stderr
    files = [name for name in tracked.stdout.split("\0") if name]
    assert files
    assert [name for name in files if ignored(name)] == []


# --- Pinned versions ------------------------------------------------------------------------------------
@cache
def pins() -> dict[str, str]:
    """constraints.txt as ``{canonical name: version}``."""
    found: dict[str, str] = {}
    for raw in CONSTRAINTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        assert separator and version, f"constraints.txt pins exact versions only: {raw!r}"
        found[canonicalize_name(name)] = version.strip()
    return found


def closure() -> set[str]:
    """The canonical names of every distribution that ``workshop-server[test]`` needs here."""
    base = {key: str(value) for key, value in default_environment().items()}
    needed: set[str] = set()
    queue: list[tuple[str, tuple[str, ...]]] = [(PROJECT, EXTRAS)]
    while queue:
        name, extras = queue.pop()
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            applies = requirement.marker is None or any(
                requirement.marker.evaluate({**base, "extra": extra}) for extra in ("", *extras)
            )
            dependency = canonicalize_name(requirement.name)
            if applies and dependency not in needed:
                needed.add(dependency)
                queue.append((requirement.name, tuple(requirement.extras)))
    return needed


def test_constraints_pin_what_is_installed() -> None:
    assert canonicalize_name(PROJECT) not in pins(), "constraints.txt must not pin the project itself"
    different = {}
    for name, version in pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            different[name] = f"pinned {version}, installed {installed}"
    assert different == {}, "run `make venv` (or `make lock` after changing dependencies)"


def test_constraints_pin_every_dependency() -> None:
    unpinned = sorted(closure() - pins().keys())
    assert unpinned == [], "dependencies without a pin: run `make lock` and commit constraints.txt"


def test_every_install_uses_the_constraints() -> None:
    stamp = run(["make", "--dry-run", "--always-make", ".venv/.installed-stamp"])
    assert stamp.returncode == 0, stamp.stderr
    installs = [line for line in stamp.stdout.splitlines() if " install " in line]
    assert installs and all("-c constraints.txt" in line for line in installs), stamp.stdout
    database = run(["make", "--print-data-base", "--question", ".venv/.installed-stamp"])
    rule = re.search(r"^\.venv/\.installed-stamp:(.*)$", database.stdout, re.MULTILINE)
    assert rule is not None, database.stdout[-2000:]
    assert {"pyproject.toml", "constraints.txt"} <= set(rule.group(1).split())
    runs = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"]
    pip = [arguments for arguments in runs if "pip install" in arguments]
    assert pip and all("-c constraints.txt" in arguments for arguments in pip), runs


# --- CI and lint -----------------------------------------------------------------------------------------
def test_ci_lints_before_it_tests() -> None:
    steps = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip().startswith("make ")
    ]
    assert steps[:2] == ["make lint", "make test"], steps
    lint = run(["make", "--dry-run", "lint"])
    assert lint.returncode == 0, lint.stderr
    commands = lint.stdout.splitlines()
    assert ".venv/bin/ruff check ." in commands  # the whole repository, tests and bench included
    assert ".venv/bin/mypy --strict workshop_server" in commands


def test_system_deps_installs_docker_compose() -> None:
    recipe = run(["make", "--dry-run", "system-deps"])
    assert recipe.returncode == 0, recipe.stderr
    assert "command -v docker-compose" in recipe.stdout
    assert "missing+=(docker-compose)" in recipe.stdout
