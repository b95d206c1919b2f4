"""Settings from the environment, their validation, the persisted secret and the command line."""

from __future__ import annotations

import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import uvicorn
from pydantic import ValidationError

from workshop_server.cli import (
    APP_FACTORY,
    main,
    overrides_from_args,
    overrides_to_env,
    uvicorn_kwargs,
)
from workshop_server.settings import SECRET_FILE_NAME, SecretFileError, Settings, resolve_secret


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No WORKSHOP_* variable of the calling shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("WORKSHOP_"):
            monkeypatch.delenv(name)


# --- Defaults and environment ---------------------------------------------------------------------------
def test_defaults() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.data_dir == Path("data")
    assert settings.secret is None
    assert settings.allowed_origins == []
    assert settings.broker == "memory"
    assert settings.max_frame_bytes == 64 * 1024
    assert settings.flush_window_ms == 0.0
    assert settings.websocket_compression is False
    assert settings.base_url == "http://127.0.0.1:8000"


def test_every_field_is_documented() -> None:
    undocumented = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undocumented == []


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKSHOP_PORT", "9001")
    monkeypatch.setenv("WORKSHOP_BROKER", "redis")
    monkeypatch.setenv("WORKSHOP_WORKERS", "4")
    monkeypatch.setenv("WORKSHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WORKSHOP_WEBSOCKET_COMPRESSION", "true")
    monkeypatch.setenv("WORKSHOP_SYNCHRONOUS", "full")
    monkeypatch.setenv("WORKSHOP_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("WORKSHOP_FLUSH_WINDOW_MS", "2.5")
    monkeypatch.setenv("PORT", "1234")  # unprefixed variables are not settings
    settings = Settings()
    assert settings.port == 9001
    assert settings.broker == "redis"
    assert settings.workers == 4
    assert settings.data_dir == tmp_path
    assert settings.websocket_compression is True
    assert settings.synchronous == "FULL"
    assert settings.log_level == "debug"
    assert settings.flush_window_ms == 2.5


def test_keyword_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKSHOP_PORT", "9001")
    monkeypatch.setenv("WORKSHOP_HOST", "0.0.0.0")
    settings = Settings(port=9002)
    assert settings.port == 9002
    assert settings.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "https://a.example.org,http://b.example.org:8080",
            ["https://a.example.org", "http://b.example.org:8080"],
        ),
        (" https://A.example.org/ , , http://b:1 ", ["https://a.example.org", "http://b:1"]),
        ('["https://a.example.org", "http://b:1"]', ["https://a.example.org", "http://b:1"]),
        ("https://a.example.org", ["https://a.example.org"]),
        ("https://a.example.org,https://a.example.org", ["https://a.example.org"]),
        ("", []),
        ("[]", []),
    ],
)
def test_allowed_origins_from_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("WORKSHOP_ALLOWED_ORIGINS", value)
    assert Settings().allowed_origins == expected


@pytest.mark.parametrize(
    "value", ["example.org", "ftp://example.org", "https://example.org/path", "https://", "[not json"]
)
def test_invalid_allowed_origins(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("WORKSHOP_ALLOWED_ORIGINS", value)
    with pytest.raises(ValidationError, match="allowed_origins"):
        Settings()


# --- Validation ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("port", -1),
        ("port", 65536),
        ("max_frame_bytes", 1023),
        ("max_frame_bytes", 1048577),
        ("flush_window_ms", -0.5),
        ("flush_window_ms", 50.5),
        ("workers", 0),
        ("commands_per_second", 0),
        ("command_burst", 0),
        ("send_queue_max", 0),
        ("idle_timeout", -1),
        ("ping_interval", 0),
        ("snapshot_every_events", 0),
        ("snapshot_every_seconds", 0),
        ("retention_days", 0),
        ("max_connections_per_member", 0),
        ("name_max", 0),
        ("broker", "kafka"),
        ("synchronous", "OFF"),
        ("log_level", "verbose"),
        ("redis_url", "http://127.0.0.1:6379"),
        ("public_url", "workshop.example.org"),
        ("host", ""),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.with_overrides({field: value})
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("WORKSHOP_PORT", "70000"), ("WORKSHOP_MAX_FRAME_BYTES", "100"), ("WORKSHOP_FLUSH_WINDOW_MS", "51")],
)
def test_out_of_range_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("port", 0),
        ("port", 65535),
        ("max_frame_bytes", 1024),
        ("max_frame_bytes", 1048576),
        ("flush_window_ms", 50),
        ("idle_timeout", 0),
        ("round_grace_seconds", 0),
    ],
)
def test_boundary_values_are_accepted(field: str, value: object) -> None:
    assert getattr(Settings.with_overrides({field: value}), field) == value


def test_unknown_keyword_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(prot=8000)  # type: ignore[call-arg]


def test_several_workers_need_the_redis_broker() -> None:
    with pytest.raises(ValidationError, match="broker=redis"):
        Settings(workers=2)
    assert Settings(workers=2, broker="redis").workers == 2


def test_secret_stays_out_of_repr_and_errors() -> None:
    settings = Settings(secret="very-private-value")
    assert "very-private-value" not in repr(settings)
    assert "very-private-value" not in str(settings)
    with pytest.raises(ValidationError) as caught:
        Settings(secret="very-private-value", workers=3)
    assert "very-private-value" not in str(caught.value)


def test_blank_secret_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKSHOP_SECRET", "  ")
    assert Settings().secret is None


# --- Derived values -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"host": "example.lan", "port": 9000}, "http://example.lan:9000"),
        ({"host": "0.0.0.0"}, "http://localhost:8000"),
        ({"host": "::1", "port": 81}, "http://[::1]:81"),
        ({"public_url": "https://workshop.example.org/"}, "https://workshop.example.org"),
        ({"public_url": "https://example.org/workshop/", "port": 1}, "https://example.org/workshop"),
    ],
)
def test_base_url(options: dict[str, object], expected: str) -> None:
    assert Settings.with_overrides(options).base_url == expected


def test_own_origin_only_by_default() -> None:
    settings = Settings()
    assert settings.origin_allowed("http://workshop.lan:8000", "workshop.lan:8000")
    assert settings.origin_allowed("https://Workshop.lan", "workshop.lan")
    assert not settings.origin_allowed("http://workshop.lan:8001", "workshop.lan:8000")
    assert not settings.origin_allowed("https://evil.example", "workshop.lan:8000")
    assert not settings.origin_allowed("null", "workshop.lan:8000")
    assert not settings.origin_allowed("http://workshop.lan:8000", None)
    assert settings.origin_allowed(None, "workshop.lan:8000")  # not a browser


def test_listed_origins_are_allowed_besides_the_own_one() -> None:
    settings = Settings(allowed_origins=["https://app.example.org"])
    assert settings.origin_allowed("https://app.example.org", "api.example.org")
    assert settings.origin_allowed("https://api.example.org", "api.example.org")
    assert not settings.origin_allowed("https://other.example.org", "api.example.org")


# --- Secret -------------------------------------------------------------------------------------------------
def test_configured_secret_is_used_and_not_persisted(tmp_path: Path) -> None:
    settings = Settings(secret="configured", data_dir=tmp_path / "data")
    assert resolve_secret(settings) == b"configured"
    assert not (tmp_path / "data").exists()


def test_secret_is_generated_persisted_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    first = resolve_secret(Settings(data_dir=data_dir))
    path = data_dir / SECRET_FILE_NAME
    assert len(first) >= 32
    assert path.read_text().strip().encode() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_secret(Settings(data_dir=data_dir)) == first  # next start
    assert resolve_secret(Settings(data_dir=tmp_path / "other")) != first
    assert sorted(item.name for item in data_dir.iterdir()) == [SECRET_FILE_NAME]


def test_concurrent_first_starts_agree_on_one_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: resolve_secret(settings), range(32)))
    assert len(set(results)) == 1
    assert (tmp_path / SECRET_FILE_NAME).read_text().strip().encode() == results[0]
    assert sorted(item.name for item in tmp_path.iterdir()) == [SECRET_FILE_NAME]


def test_existing_secret_file_is_read(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE_NAME).write_text("  operator-chosen-secret\n")
    assert resolve_secret(Settings(data_dir=tmp_path)) == b"operator-chosen-secret"


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE_NAME).write_text("\n")
    with pytest.raises(SecretFileError, match="empty"):
        resolve_secret(Settings(data_dir=tmp_path))


# --- Command line -------------------------------------------------------------------------------------------
def test_flags_become_overrides(tmp_path: Path) -> None:
    overrides = overrides_from_args(
        [
            "--host=0.0.0.0",
            "--port=9100",
            f"--data-dir={tmp_path}",
            "--broker=redis",
            "--redis-url=redis://10.0.0.1:6380/2",
            "--workers=3",
            "--log-level=WARNING",
            "--secret=s3",
            "--allowed-origins=https://a.example.org,https://b.example.org",
        ]
    )
    assert overrides == {
        "host": "0.0.0.0",
        "port": 9100,
        "data_dir": tmp_path,
        "broker": "redis",
        "redis_url": "redis://10.0.0.1:6380/2",
        "workers": 3,
        "log_level": "warning",
        "secret": "s3",
        "allowed_origins": "https://a.example.org,https://b.example.org",
    }
    assert overrides_from_args([]) == {}


def test_flags_override_environment_which_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKSHOP_PORT", "9001")
    monkeypatch.setenv("WORKSHOP_HOST", "10.1.2.3")
    settings = Settings.with_overrides(overrides_from_args(["--port", "9002"]))
    assert (settings.port, settings.host, settings.workers) == (9002, "10.1.2.3", 1)


def test_overrides_survive_the_trip_through_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    overrides: dict[str, object] = {
        "port": 9100,
        "data_dir": tmp_path,
        "broker": "redis",
        "workers": 2,
        "allowed_origins": ["https://a.example.org", "http://b:1"],
        "websocket_compression": True,
        "flush_window_ms": 1.5,
        "secret": "s3",
    }
    expected = Settings.with_overrides(overrides)
    env = overrides_to_env(overrides)
    assert json.loads(env["WORKSHOP_ALLOWED_ORIGINS"]) == ["https://a.example.org", "http://b:1"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == expected


def test_uvicorn_options() -> None:
    settings = Settings(
        host="0.0.0.0",
        port=0,
        max_frame_bytes=4096,
        ping_interval=5,
        ping_timeout=7,
        websocket_compression=True,
        log_level="warning",
    )
    options = uvicorn_kwargs(settings)
    assert options["ws_max_size"] == 16384
    assert (options["host"], options["port"], options["workers"]) == ("0.0.0.0", 0, 1)
    assert (options["ws_ping_interval"], options["ws_ping_timeout"]) == (5, 7)
    assert options["ws_per_message_deflate"] is True
    assert options["proxy_headers"] is False
    assert options["lifespan"] == "on"
    assert options["loop"] == "uvloop"  # uvloop is a dependency
    config = uvicorn.Config(APP_FACTORY, factory=True, **uvicorn_kwargs(settings))  # every option exists
    assert config.ws_max_size == 16384
    assert config.ws == "websockets-sansio"


def test_invalid_flags_exit_before_serving(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--port", "70000", "--data-dir", str(tmp_path)])
    assert caught.value.code == 2
    assert "port" in capsys.readouterr().err
    assert "WORKSHOP_PORT" not in os.environ
    assert list(tmp_path.iterdir()) == []
