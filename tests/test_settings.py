"""Settings from the environment, their validation, the persisted secret and the command line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import uvicorn
from pydantic import ValidationError
from uvicorn.importer import import_from_string

from workshop_server.cli import (
    APP_FACTORY,
    main,
    overrides_from_args,
    overrides_to_env,
    uvicorn_kwargs,
)
from workshop_server.netinfo import lan_addresses
from workshop_server.settings import (
    MIN_SECRET_BYTES,
    SECRET_FILE_NAME,
    SecretFileError,
    Settings,
    resolve_secret,
)

REPO = Path(__file__).resolve().parents[1]
#: A secret long enough to be accepted (at least MIN_SECRET_BYTES bytes).
LONG_SECRET = "very-private-value-0123456789abcdef"


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
    assert settings.gc_freeze is True
    assert settings.websocket_compression is False
    assert settings.base_url == "http://127.0.0.1:8000"


def test_gc_freeze_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKSHOP_GC_FREEZE", "false")
    assert Settings().gc_freeze is False
    monkeypatch.setenv("WORKSHOP_GC_FREEZE", "maybe")
    with pytest.raises(ValidationError):
        Settings()


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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Workshop.Example.org", ["workshop.example.org"]),
        (" a.example.org , *.b.example.org., a.example.org", ["a.example.org", "*.b.example.org"]),
        ("*", ["*"]),
        ("", []),
    ],
)
def test_allowed_hosts_from_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("WORKSHOP_ALLOWED_HOSTS", value)
    assert Settings().allowed_hosts == expected


@pytest.mark.parametrize(
    "value", ["https://example.org", "example.org:8000", "a..b", "-a.example.org", "*example.org", "a b"]
)
def test_invalid_allowed_hosts(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("WORKSHOP_ALLOWED_HOSTS", value)
    with pytest.raises(ValidationError, match="allowed_hosts"):
        Settings()


def test_the_hosts_a_server_answers_to() -> None:
    settings = Settings()
    for host in ("127.0.0.1:8000", "192.168.1.20", "[::1]:8000", "[fe80::1]", "localhost:8000", "laptop"):
        assert settings.host_allowed(host), host
    for host in ("app.localhost", "laptop.local.", "nas.lan", "db.internal", "pc.home.arpa", None):
        assert settings.host_allowed(host), host
    # A proxy's upstream name (nginx sends it by default), a container's, a cluster service's.
    for host in ("workshop_backend", "workshop_server:8000", "web_1", "workshop.default.svc"):
        assert settings.host_allowed(host), host
    for host in (
        "rebind.example.com",
        "localhost.example.com",
        "[::1",
        "[nope]",
        "a b",
        "",
        "x:y:z",
    ):
        assert not settings.host_allowed(host), host
    listed = Settings(
        allowed_hosts=["workshop.example.org", "*.events.example.com"],
        public_url="https://Join.Example.net:8443",
        allowed_origins=["https://partner.example"],
    )
    for host in ("workshop.example.org:443", "a.b.events.example.com", "events.example.com"):
        assert listed.host_allowed(host), host
    for host in ("join.example.net", "JOIN.example.net:8443", "partner.example"):
        assert listed.host_allowed(host), host
    for host in ("example.org", "xevents.example.com", "events.example.com.evil.example"):
        assert not listed.host_allowed(host), host
    assert Settings(allowed_hosts=["*"]).host_allowed("rebind.example.com")


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
        ("flush_tick_ms", -1),
        ("flush_tick_ms", 100.5),
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
        ("public_url", "https://example.org/workshop"),  # the pages load /static/, /api/, /ws
        ("web_dir", "/nonexistent"),
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


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_duration_that_is_not_a_finite_number_is_refused_as_such(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Found by review: WORKSHOP_DRAIN_SECONDS=nan was refused as "less than or equal to 600"."""
    monkeypatch.setenv("WORKSHOP_DRAIN_SECONDS", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert [error["type"] for error in caught.value.errors()] == ["finite_number"]


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
    with pytest.raises(ValidationError, match="several workers need a shared broker: --broker redis"):
        Settings(workers=2)
    assert Settings(workers=2, broker="redis").workers == 2


def test_secret_stays_out_of_repr_and_errors() -> None:
    settings = Settings(secret=LONG_SECRET)
    assert LONG_SECRET not in repr(settings)
    assert LONG_SECRET not in str(settings)
    with pytest.raises(ValidationError) as caught:
        Settings(secret=LONG_SECRET, workers=3)
    assert LONG_SECRET not in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        Settings(secret="too-short-private-value")
    assert "too-short-private-value" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2-secret@redis.internal:6379/0",
        "rediss://workshop:hunter2-secret@redis.internal:6380/1",
        "unix://:hunter2-secret@/run/redis/redis.sock?db=2",
    ],
)
def test_the_redis_password_stays_out_of_repr(url: str) -> None:
    """redis_url was in repr() and str() of the settings, password and all."""
    settings = Settings(broker="redis", redis_url=url)
    assert settings.redis_url == url  # the broker still gets it whole
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)


@pytest.mark.parametrize("password", ["hunter2/secret", "hunter2#secret", "hunter2?secret"])
def test_a_redis_url_whose_password_ends_the_address_is_refused_without_echoing_it(password: str) -> None:
    """An unencoded "/", "#" or "?" in the password ends the URL's address early: urllib took the start
    of the password for the port, the settings accepted it, and redis-py's error at start (a traceback
    on stderr) was "Port could not be cast to integer value as 'hunter2'"."""
    with pytest.raises(ValidationError) as caught:
        Settings(broker="redis", redis_url=f"redis://:{password}@127.0.0.1:6379/0")
    assert [error["loc"] for error in caught.value.errors()] == [("redis_url",)]
    assert "percent-encode" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    encoded = Settings(broker="redis", redis_url="redis://:hunter2%2Fsecret@127.0.0.1:6379/0")
    assert "hunter2" not in repr(encoded)


def test_a_bad_redis_url_on_the_command_line_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--broker", "redis", "--redis-url", "redis://:hunter2/secret@127.0.0.1:6379/0"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("workshop-server: WORKSHOP_REDIS_URL: redis_url has no valid port")
    assert len(err.strip().splitlines()) == 1 and "hunter2" not in err


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://:hunter2@127.0.0.1:1/db1", "database"),  # redis-py took it for database 0, silently
        ("redis://:hunter2@127.0.0.1:1/0/1", "database"),
        ("unix://:hunter2@/run/redis.sock?db=one", "database"),  # a ValueError traceback at start
        ("redis://:hunter2@127.0.0.1:1/0?socket_timeout=soon", "socket_timeout"),  # a traceback too
    ],
)
def test_a_redis_url_redis_py_cannot_read_is_one_line_without_the_password(
    url: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database that is not a number was database 0 to redis-py (perhaps another installation's:
    the keys and channels have the same names), and an option it cannot read (?db=, ?socket_timeout=)
    stopped the start with a traceback."""
    with pytest.raises(ValidationError):
        Settings(broker="redis", redis_url=url)
    with pytest.raises(SystemExit) as stopped:
        main(["--broker", "redis", "--redis-url", url])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("workshop-server: WORKSHOP_REDIS_URL: ") and says in err
    assert len(err.strip().splitlines()) == 1 and "hunter2" not in err


def test_blank_secret_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKSHOP_SECRET", "  ")
    assert Settings().secret is None


# --- Derived values -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"host": "example.lan", "port": 9000}, "http://example.lan:9000"),
        # A wildcard host: the machine's first LAN address, so phones can open the links.
        ({"host": "0.0.0.0"}, f"http://{(lan_addresses() or ('localhost',))[0]}:8000"),
        ({"host": "::1", "port": 81}, "http://[::1]:81"),
        ({"public_url": "https://workshop.example.org/"}, "https://workshop.example.org"),
        ({"public_url": "https://example.org:8443/", "port": 1}, "https://example.org:8443"),
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


def test_the_public_url_s_origin_is_the_server_s_own() -> None:
    """Behind a proxy that rewrites Host, the pages come from ``public_url``'s origin."""
    settings = Settings(public_url="https://Workshop.example.org/")
    assert settings.origin_allowed("https://workshop.example.org", "127.0.0.1:8000")
    assert not settings.origin_allowed("http://workshop.example.org", "127.0.0.1:8000")
    assert not settings.origin_allowed("https://workshop.example.org:8443", "127.0.0.1:8000")
    assert not settings.origin_allowed("https://evil.example", "127.0.0.1:8000")
    ported = Settings(public_url="http://10.0.0.5:9000")
    assert ported.origin_allowed("http://10.0.0.5:9000", "127.0.0.1:8000")
    assert not ported.origin_allowed("http://10.0.0.5", "127.0.0.1:8000")
    # Written with its default port (or a user), as browsers never write an Origin.
    for written in ("https://workshop.example.org:443/", "https://someone@workshop.example.org/"):
        assert Settings(public_url=written).origin_allowed("https://workshop.example.org", "127.0.0.1:8000")
    assert Settings(public_url="http://[::1]:80").origin_allowed("http://[::1]", "127.0.0.1:8000")


# --- Secret -------------------------------------------------------------------------------------------------
def test_configured_secret_is_used_and_not_persisted(tmp_path: Path) -> None:
    settings = Settings(secret=LONG_SECRET, data_dir=tmp_path / "data")
    assert resolve_secret(settings) == LONG_SECRET.encode()
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
    (tmp_path / SECRET_FILE_NAME).write_text("  operator-chosen-secret-of-enough-bytes\n")
    assert resolve_secret(Settings(data_dir=tmp_path)) == b"operator-chosen-secret-of-enough-bytes"


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE_NAME).write_text("\n")
    with pytest.raises(SecretFileError, match="empty"):
        resolve_secret(Settings(data_dir=tmp_path))


@pytest.mark.parametrize(
    ("secret", "accepted"),
    [
        ("x" * (MIN_SECRET_BYTES - 1), False),
        ("x" * MIN_SECRET_BYTES, True),
        ("é" * (MIN_SECRET_BYTES // 2), True),  # bytes count, not characters: 16 characters, 32 bytes
        ("é" * (MIN_SECRET_BYTES // 2 - 1) + "x", False),
    ],
)
def test_a_secret_needs_32_bytes(secret: str, accepted: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MIN_SECRET_BYTES == 32
    monkeypatch.setenv("WORKSHOP_SECRET", secret)
    if accepted:
        assert Settings().secret == secret
        assert Settings(secret=secret).secret == secret
    else:
        with pytest.raises(ValidationError, match="at least 32"):
            Settings()
        with pytest.raises(ValidationError, match="at least 32"):
            Settings(secret=secret)


def test_a_short_secret_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE_NAME).write_text("x" * (MIN_SECRET_BYTES - 1) + "\n")
    with pytest.raises(SecretFileError, match="at least 32"):
        resolve_secret(Settings(data_dir=tmp_path))
    (tmp_path / SECRET_FILE_NAME).write_text("x" * MIN_SECRET_BYTES + "\n")
    assert resolve_secret(Settings(data_dir=tmp_path)) == b"x" * MIN_SECRET_BYTES


def test_the_data_directory_and_secret_file_are_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        resolve_secret(Settings(data_dir=tmp_path / "fresh"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "fresh" / SECRET_FILE_NAME).stat().st_mode) == 0o600


def test_an_open_data_directory_and_secret_file_are_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / SECRET_FILE_NAME).write_text(LONG_SECRET + "\n")
    (data_dir / SECRET_FILE_NAME).chmod(0o644)
    assert resolve_secret(Settings(data_dir=data_dir)) == LONG_SECRET.encode()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / SECRET_FILE_NAME).stat().st_mode) == 0o600


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
        "secret": LONG_SECRET,
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
    assert config.ws == "workshop_server.guard:GuardedWebSocketProtocol"
    assert config.http == "workshop_server.guard:GuardedH11Protocol"
    for name in (config.ws, config.http):  # both import (every worker process imports them by name)
        assert isinstance(name, str)
        assert import_from_string(name).__module__ == "workshop_server.guard"
    proxied = uvicorn_kwargs(Settings(trusted_proxies="10.0.0.1, 10.0.0.2"))  # type: ignore[arg-type]
    assert proxied["proxy_headers"] is True
    assert proxied["forwarded_allow_ips"] == ["10.0.0.1", "10.0.0.2"]


def test_the_keep_alive_timeout_is_a_setting() -> None:
    """An idle keep-alive connection's timeout faces the network: behind a load balancer that keeps its
    connections to the server open longer (60 s is common), a server that closes them first makes the
    balancer answer 502 now and then, so operators must be able to raise it."""
    assert uvicorn_kwargs(Settings())["timeout_keep_alive"] == 5  # uvicorn's own default
    raised = uvicorn_kwargs(Settings(keep_alive_timeout=75))
    assert raised["timeout_keep_alive"] == 75
    config = uvicorn.Config(APP_FACTORY, factory=True, **raised)
    assert config.timeout_keep_alive == 75


def test_invalid_flags_exit_before_serving(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--port", "70000", "--data-dir", str(tmp_path)])
    assert caught.value.code == 2
    assert "WORKSHOP_PORT: Input should be less than or equal to 65535" in capsys.readouterr().err
    assert "WORKSHOP_PORT" not in os.environ
    assert list(tmp_path.iterdir()) == []


# --- Refused at start, through the real command line ---------------------------------------------------
def run_cli(tmp_path: Path, *args: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m workshop_server`` on ``tmp_path/data``; a server that starts is killed after 60 s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSHOP_")}
    if secret is not None:
        env["WORKSHOP_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "workshop_server", "--port", "0", "--data-dir", str(tmp_path / "data"), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def explaining_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that say on their own what is wrong: the secret and its minimum size."""
    return [line for line in stderr.splitlines() if "secret" in line and "at least 32" in line]


def test_a_short_secret_stops_the_server_with_one_clear_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, secret="x" * (MIN_SECRET_BYTES - 1))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(explaining_lines(result.stderr)) == 1, result.stderr
    assert "x" * (MIN_SECRET_BYTES - 1) not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists()  # refused before anything was written


def test_a_short_secret_file_stops_the_server_with_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / SECRET_FILE_NAME).write_text("short-secret\n")
    result = run_cli(tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr  # one line
    assert len(explaining_lines(result.stderr)) == 1, result.stderr


def test_missing_web_files_are_told_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Installed without the repository (``pip install .``), the default web directory does not exist:
    the pages would be blank with no word in the log."""
    import logging

    from workshop_server import app

    logger = logging.getLogger("workshop_server")  # it does not propagate to the root logger
    logger.addHandler(caplog.handler)
    try:
        app.create_app(Settings(data_dir=tmp_path / "data"))
        assert not [r for r in caplog.records if "web app's files" in r.getMessage()]
        monkeypatch.setattr(app, "WEB_DIR", tmp_path / "site-packages" / "web")
        app.create_app(Settings(data_dir=tmp_path / "data"))
    finally:
        logger.removeHandler(caplog.handler)
    told = [r for r in caplog.records if "web app's files" in r.getMessage()]  # (caplog may see it twice)
    assert told and all(r.levelname == "WARNING" and "WORKSHOP_WEB_DIR" in r.getMessage() for r in told)


def test_the_help_shows_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` lists purge and backup, and each command has its own help (``purge --help`` showed the
    server's, ``backup --help`` was refused with status 2)."""
    for argv, usage in (
        (["--help"], "workshop-server [purge | backup FILE]"),
        (["purge", "--help"], "workshop-server purge [options]"),
        (["backup", "--help"], "workshop-server backup FILE [options]"),
        (["backup", "-h"], "workshop-server backup FILE [options]"),
    ):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 0, argv
        shown = capsys.readouterr().out
        assert shown.startswith(f"usage: {usage}"), shown
    main_help = subprocess.run(
        [sys.executable, "-m", "workshop_server", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "workshop-server purge [options]" in main_help and "workshop-server backup FILE" in main_help
