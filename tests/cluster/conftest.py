"""Fixtures of the multi-worker tests: real server processes on a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import start_redis, stop_process


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server for this test (the test may kill it)."""
    process, url = start_redis(tmp_path / "redis")
    try:
        yield url
    finally:
        stop_process(process)
