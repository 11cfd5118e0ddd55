"""Configuration: CLI over environment over defaults, validated whole, one line and exit 2 when bad."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.web import run_module

from trafficmon.capture.config import EngineConfig
from trafficmon.state import AccountingConfig, CapCounts
from trafficmon.settings import ValidationError, table
from trafficmon.web.config import ConfigError, ServiceConfig, options
from trafficmon.web.config_load import load_config, reference

SERVICE_AND_ENGINE = [entry for section, entry in options() if section != "accounting"]
ACCOUNTING = [entry for section, entry in options() if section == "accounting"]



def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # The default zone is the host's, read from the environment given (here none) or,
    # for ServiceConfig(), from os.environ: without TZ both read the same host files.
    monkeypatch.delenv("TZ", raising=False)
    config = load_config([], {})
    assert config == ServiceConfig()
    assert (config.host, config.port, config.monitor_user, config.monitor_pass) == ("127.0.0.1", 8080, "admin", None)
    assert config.accounting.data_dir == Path("data")
    assert config.metrics_public is False
    assert config.cors_origins == ()
    assert config.engine == replace(EngineConfig(), resolve_names=True), "the service resolves names by default"
    assert config.accounting == AccountingConfig()


def test_cli_beats_environment_beats_default() -> None:
    env = {"PORT": "9000", "HOST": "0.0.0.0", "UPDATE_INTERVAL": "2.5", "MONITOR_USER": "ops"}
    config = load_config(["--port", "9100", "--update-interval=0.5"], env)
    assert config.port == 9100  # CLI
    assert config.engine.update_interval == 0.5  # CLI over env
    assert config.host == "0.0.0.0"  # env
    assert config.monitor_user == "ops"  # env
    assert config.engine.history_length == EngineConfig().history_length  # default


def test_every_setting_from_environment_and_flag() -> None:
    env = {
        "HOST": "::1",
        "PORT": "0",
        "UPDATE_INTERVAL": "0.25",
        "HISTORY_LENGTH": "3600",
        "CORS_ORIGINS": "https://a.example, http://b.example:8080/ ,https://a.example:443",
        "AUTH": "None",
        "MONITOR_USER": "me",
        "MONITOR_PASS": "pw with spaces",
        "API_TOKENS": "first-token-0123456789, second.token~0123456789,first-token-0123456789",
        "METRICS_PUBLIC": "yes",
        "RUN_AS": "nobody",
        "AUTH_MAX_FAILURES": "5",
        "AUTH_LOCKOUT": "30",
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "JSON",
        "ACCESS_LOG": "on",
        "INTERFACES": "eth0, wlan0,eth0",
        "SPEED_WINDOW": "3",
        "AVERAGE_WINDOW": "90",
        "LINGER": "0",
        "IDLE_TIMEOUT": "60",
        "SNAPLEN": "256",
        "CAPTURE_FILTER": "tcp port 443",
        "NETNS": "blue",
        "MAX_FLOWS": "5000",
        "FLOW_MEMORY_BYTES": "16777216",
        "RCVBUF_BYTES": "1048576",
        "MAX_BODY_BYTES": "2048",
        "MAX_CONNECTIONS_LIMIT": "50",
        "WS_MAX_MSG_SIZE": "4096",
        "WS_QUEUE": "8",
        "WS_HEARTBEAT": "15",
        "WS_SEND_TIMEOUT": "5",
        "WS_MAX_CLIENTS": "7",
        "WS_MAX_CONNECTIONS": "20",
        "WS_SNDBUF": "0",
        "WS_COMPRESS": "off",
        "RESOLVE_NAMES": "no",
        "RESOLVE_WORKERS": "3",
        "RESOLVE_QUEUE": "100",
        "RESOLVE_CACHE": "500",
        "METRICS_TOP_PROCESSES": "0",
    }
    assert {s.env for s in SERVICE_AND_ENGINE} == set(env), "the test must cover every setting"
    from_env = load_config([], env)
    args = []
    for setting in SERVICE_AND_ENGINE:
        if setting.kind == "bool":
            on = env[setting.env].lower() in ("yes", "1", "on", "true")
            args.append(setting.flag if on else "--no-" + setting.flag.removeprefix("--"))
        else:
            args.append(f"{setting.flag}={env[setting.env]}")
    assert load_config(args, {}) == from_env
    assert from_env.host == "::1"
    assert from_env.cors_origins == ("https://a.example", "http://b.example:8080")
    assert from_env.monitor_pass == "pw with spaces"
    assert from_env.api_tokens == ("first-token-0123456789", "second.token~0123456789")
    assert from_env.auth == "none"  # on ::1, a loopback address
    assert from_env.metrics_public is True
    assert from_env.run_as == "nobody"
    assert from_env.log_level == "DEBUG"
    assert (from_env.log_format, from_env.access_log) == ("json", True)
    assert from_env.engine == EngineConfig(
        interfaces=("eth0", "wlan0"),
        update_interval=0.25,
        history_length=3600,
        speed_window=3.0,
        average_window=90.0,
        linger=0.0,
        idle_timeout=60.0,
        snaplen=256,
        capture_filter="tcp port 443",
        netns="blue",
        max_flows=5000,
        flow_memory_bytes=16 * 1024 * 1024,
        rcvbuf_bytes=1048576,
        resolve_names=False,
        resolve_workers=3,
        resolve_queue=100,
        resolve_cache=500,
    )
    assert (from_env.ws_queue, from_env.ws_sndbuf, from_env.metrics_top_processes) == (8, 0, 0)
    assert from_env.ws_compress is False
    assert (from_env.auth_max_failures, from_env.auth_lockout) == (5, 30.0)
    assert from_env.accounting.interfaces == ("eth0", "wlan0")  # the capture's list restricts it


def test_every_accounting_setting_from_environment_and_flag() -> None:
    env = {
        "DATA_DIR": "/var/lib/trafficmon",
        "TRAFFIC_CAP_GB": "1000",
        "CAP_COUNTS": "Both",
        "RESET_DAY": "15",
        "RESET_HOUR": "6",
        "TIMEZONE": "Europe/Berlin",
        "WARNING_PERCENT": "70",
        "CRITICAL_PERCENT": "90",
        "EXCEEDED_PERCENT": "105",
        "FLUSH_INTERVAL": "2",
        "COUNTER_POLL_INTERVAL": "0.5",
        "LINK_SPEED_GBIT": "10",
        "COUNTER_BITS": "32",
        "PROJECTION_DAYS": "14",
        "MINUTE_HISTORY_HOURS": "72",
        "DAILY_RETENTION_DAYS": "800",
        "MAX_TRACKED_HOSTS": "100",
        "MAX_TRACKED_PROCESSES": "50",
        "ARCHIVE_TOP": "5",
    }
    assert {f.env for f in ACCOUNTING} == set(env), "the test must cover every accounting setting"
    assert {row["env"] for row in AccountingConfig.describe()} == set(env) | {"INTERFACES"}
    from_env = load_config([], env).accounting
    assert load_config([f"{f.flag}={env[f.env]}" for f in ACCOUNTING], {}).accounting == from_env
    assert from_env == AccountingConfig(
        data_dir=Path("/var/lib/trafficmon"),
        cap_gb=1000.0,
        cap_counts=CapCounts.BOTH,
        reset_day=15,
        reset_hour=6,
        timezone="Europe/Berlin",
        warning_percent=70.0,
        critical_percent=90.0,
        exceeded_percent=105.0,
        flush_interval=2.0,
        poll_interval=0.5,
        link_speed_gbit=10.0,
        counter_bits=32,
        projection_days=14,
        minute_history_hours=72,
        daily_retention_days=800,
        max_hosts=100,
        max_processes=50,
        archive_top=5,
    )


def test_accounting_flags_beat_the_environment() -> None:
    env = {"TRAFFIC_CAP_GB": "1000", "RESET_DAY": "oops", "DATA_DIR": "/srv/a", "INTERFACES": "eth0"}
    config = load_config(["--traffic-cap-gb", "250", "--reset-day", "3", "--interfaces", "wan0"], env)
    assert (config.accounting.cap_gb, config.accounting.reset_day) == (250.0, 3)  # the bad env value unread
    assert config.accounting.data_dir == Path("/srv/a")
    assert config.accounting.interfaces == config.engine.interfaces == ("wan0",)


def test_without_interfaces_the_accounting_chooses_its_own() -> None:
    assert load_config([], {}).accounting.interfaces == ()


def test_boolean_flag_can_switch_off_the_environment() -> None:
    assert load_config(["--no-metrics-public"], {"METRICS_PUBLIC": "1"}).metrics_public is False


def test_empty_password_counts_as_unset() -> None:
    assert load_config([], {"MONITOR_PASS": ""}).monitor_pass is None


def test_password_and_tokens_are_not_in_the_repr() -> None:
    config = load_config([], {"MONITOR_PASS": "hunter2", "API_TOKENS": "hunter2-as-a-token-too"})
    assert "hunter2" not in repr(config)


def test_auth_defaults_to_basic_and_empty_tokens_count_as_unset() -> None:
    config = load_config([], {"API_TOKENS": " , "})
    assert (config.auth, config.api_tokens) == ("basic", ())


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"])
def test_auth_none_is_accepted_on_loopback(host: str) -> None:
    assert load_config(["--auth", "none", "--host", host], {}).auth == "none"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org"])
def test_auth_none_is_refused_elsewhere_naming_both_settings(host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config([], {"AUTH": "none", "HOST": host})
    assert str(caught.value) == (
        f"AUTH='none': is accepted only when HOST is a loopback address (127.0.0.1, ::1 or localhost), "
        f"not {host}: anyone who reaches it could read and change the state"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("short-secret", "API_TOKENS (not shown): token 1 of 1 must be at least 16 characters (it has 12)"),
        ("good-token-0123456789,tiny", "API_TOKENS (not shown): token 2 of 2 must be at least 16 characters (it has 4)"),
        ("has spaces in the middle", "API_TOKENS (not shown): token 1 of 1 may hold only letters, digits and"),
        ("quoted\"token\"0123456789", "may hold only letters, digits and"),
        ("x" * 513, "token 1 of 1 must be at most 512 characters"),
    ],
)
def test_bad_api_tokens_are_named_but_never_echoed(raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config([], {"API_TOKENS": raw})
    assert message in str(caught.value)
    assert raw not in str(caught.value)


def test_bad_api_tokens_exit_2_with_one_line() -> None:
    result = run_module(API_TOKENS="tooshort")
    assert result.returncode == 2
    assert result.stderr == "trafficmon: API_TOKENS (not shown): token 1 of 1 must be at least 16 characters (it has 8)\n"


def test_auth_none_off_loopback_exits_2_with_one_line() -> None:
    result = run_module("--auth", "none", "--host", "0.0.0.0")
    assert result.returncode == 2
    assert result.stderr.startswith("trafficmon: --auth='none': is accepted only when HOST is a loopback address")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--port", "0x50"], {}, "--port='0x50': must be a whole number from 0 to 65535, got '0x50'"),
        ([], {"PORT": "70000"}, "PORT='70000': must be from 0 to 65535, got 70000"),
        ([], {"PORT": "8_080"}, "PORT='8_080': must be a whole number from 0 to 65535"),
        ([], {"PORT": "\u0668\u0660"}, "must be a whole number from 0 to 65535"),  # Arabic-Indic 80
        ([], {"RESET_DAY": "1_0"}, "RESET_DAY='1_0': must be a whole number from 1 to 31"),
        ([], {"LINGER": "1_0"}, "LINGER='1_0': must be a number from 0 to 86400"),
        ([], {"UPDATE_INTERVAL": "0"}, "UPDATE_INTERVAL='0': must be from 0.05 to 3600, got 0"),
        ([], {"UPDATE_INTERVAL": "nan"}, "UPDATE_INTERVAL='nan': must be a number from 0.05 to 3600"),
        ([], {"HOST": "bad host!"}, "HOST='bad host!': expected an IP address or a host name"),
        ([], {"CORS_ORIGINS": "*"}, "CORS_ORIGINS='*': '*' is not allowed with authentication"),
        ([], {"CORS_ORIGINS": "example.org"}, "'example.org' is not an origin like https://example.org:8443"),
        ([], {"CORS_ORIGINS": "https://x.org/app"}, "'https://x.org/app' must be scheme://host[:port] only"),
        ([], {"MONITOR_USER": "a:b"}, "MONITOR_USER='a:b': must be non-empty, without ':'"),
        ([], {"RUN_AS": "no user"}, "RUN_AS='no user': expected a user name like trafficmon or nobody"),
        ([], {"METRICS_PUBLIC": "maybe"}, "METRICS_PUBLIC='maybe': must be one of 1/0"),
        ([], {"AUTH": "token"}, "AUTH='token': must be one of basic, none, got 'token'"),
        ([], {"MONITOR_PASS": "a\tb"}, "MONITOR_PASS (not shown): must not contain control characters"),
        ([], {"TRAFFIC_CAP_GB": "0"}, "TRAFFIC_CAP_GB='0': must be greater than 0, got 0"),
        ([], {"TRAFFIC_CAP_GB": "-5"}, "TRAFFIC_CAP_GB='-5': must be greater than 0, got -5"),
        (["--traffic-cap-gb", "lots"], {}, "--traffic-cap-gb='lots': must be a number greater than 0, got 'lots'"),
        (["--reset-day", "32"], {}, "--reset-day='32': must be from 1 to 31, got 32"),
        ([], {"TIMEZONE": "Mars/Olympus"}, "TIMEZONE='Mars/Olympus': is not a known IANA time zone name"),
        ([], {"CAP_COUNTS": "most"}, "CAP_COUNTS='most': must be one of outbound, both, max"),
        (["--warning-percent", "97"], {}, "CRITICAL_PERCENT: must be above warning_percent (97), got 95"),
        ([], {"WARNING_PERCENT": "97"}, "CRITICAL_PERCENT: must be above warning_percent (97), got 95"),
        ([], {"DAILY_RETENTION_DAYS": "30"}, "DAILY_RETENTION_DAYS='30': must be at least 400, got 30"),
        ([], {"INTERFACES": "eth0,a/b"}, "INTERFACES='eth0,a/b': 'a/b' is not an interface name"),
        ([], {"INTERFACES": "averyveryverylongname"}, "is not an interface name"),
        ([], {"SNAPLEN": "10"}, "SNAPLEN='10': must be from 34 to 65535, got 10"),
        ([], {"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud': must be one of DEBUG, INFO, WARNING, ERROR"),
        ([], {"WS_QUEUE": "0"}, "WS_QUEUE='0': must be from 1 to 10000, got 0"),
        (["--resolve-workers", "0"], {}, "--resolve-workers='0': must be from 1 to 64, got 0"),
        (["--bogus"], {}, "unrecognized arguments: --bogus"),
        (["--port"], {}, "argument --port: expected one argument"),
        ([], {"WS_SEND_TIMEOUT": "1", "UPDATE_INTERVAL": "2"},
         "WS_SEND_TIMEOUT='1': must be at least UPDATE_INTERVAL (2)"),
    ],
)
def test_bad_values(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(argv, env)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            ["--port", "x", "--reset-hour", "24", "--archive-top", "-1"],
            {"SNAPLEN": "1", "WS_QUEUE": "-1", "TRAFFIC_CAP_GB": "0", "TIMEZONE": "Nowhere"},
        )
    names = ("--port", "SNAPLEN", "WS_QUEUE", "TRAFFIC_CAP_GB", "TIMEZONE", "--reset-hour", "--archive-top")
    assert str(caught.value).count(";") == len(names) - 1
    for name in names:
        assert name in str(caught.value)


def test_bad_flag_exits_2_with_one_line() -> None:
    result = run_module("--port", "0x50")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "trafficmon: --port='0x50': must be a whole number from 0 to 65535, got '0x50'\n"


def test_bad_environment_exits_2_with_one_line() -> None:
    result = run_module(UPDATE_INTERVAL="fast")
    assert result.returncode == 2
    assert result.stderr == "trafficmon: UPDATE_INTERVAL='fast': must be a number from 0.05 to 3600, got 'fast'\n"


def test_bad_accounting_values_exit_2_on_one_line_before_anything_starts(tmp_path: Path) -> None:
    result = run_module("--reset-day", "0", "--data-dir", str(tmp_path / "data"), TIMEZONE="Nowhere/Land")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "trafficmon: --reset-day='0': must be from 1 to 31, got 0; "
        "TIMEZONE='Nowhere/Land': is not a known IANA time zone name: 'Nowhere/Land'\n"
    )
    assert not (tmp_path / "data").exists()


def test_help_names_every_environment_variable() -> None:
    result = run_module("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for _, setting in options():
        assert f"{setting.flag}" in text
        assert f"[env {setting.env}, default" in text
    assert "[env TRAFFIC_CAP_GB, default 500.0 GB]" in text


def test_the_readme_reference_is_the_settings_table() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    begin, end = "<!-- settings reference: begin -->\n", "<!-- settings reference: end -->"
    block = readme.split(begin, 1)[1].split(end, 1)[0]
    assert block == reference(), "the README's configuration reference is stale: run make reference"
    for _, entry in options():
        assert f"| `{entry.env}` | `{entry.flag}` |" in block


def test_every_setting_is_checked_by_its_own_type_when_built_in_code() -> None:
    """The table's rules hold for a configuration built in code, not only for one read from the environment."""
    with pytest.raises(ValidationError) as refused:
        EngineConfig(update_interval=0, snaplen="1_0", interfaces=("eth0", "a/b"))
    assert [name for name, _ in refused.value.problems] == ["interfaces", "update_interval", "snaplen"]
    with pytest.raises(ValidationError) as refused:
        ServiceConfig(port=70_000, auth="token", ws_queue=True)
    assert [name for name, _ in refused.value.problems] == ["port", "auth", "ws_queue"]
    with pytest.raises(ValidationError) as refused:
        ServiceConfig(engine=EngineConfig(update_interval=20))
    assert refused.value.field == "ws_send_timeout"
    assert {entry.name for entry in table(ServiceConfig)} >= {"host", "port", "auth"}
