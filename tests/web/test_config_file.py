"""The TOML configuration file: below the environment and the command line, checked like them; `trafficmon config`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.support.web import run_module
from trafficmon.state import CapCounts
from trafficmon.web.config import ConfigError, options
from trafficmon.web.config_load import as_toml, effective, load_config

NO_FILE = Path("/nonexistent/trafficmon.toml")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trafficmon.toml"
    path.write_text(text)
    return path


def test_every_setting_is_a_key_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, """
        port = 9100
        interfaces = ["eth0", "wg0"]
        traffic_cap_gb = 1000
        cap_counts = "both"
        ws_compress = false
        update_interval = 0.5
        data_dir = "/var/lib/trafficmon"
        counter_bits = "auto"
    """.replace("\n        ", "\n"))
    config = load_config(["--config", str(path)], {}, default_file=NO_FILE)
    assert (config.port, config.ws_compress, config.engine.update_interval) == (9100, False, 0.5)
    assert config.engine.interfaces == config.accounting.interfaces == ("eth0", "wg0")
    assert (config.accounting.cap_gb, config.accounting.cap_counts) == (1000.0, CapCounts.BOTH)
    assert str(config.accounting.data_dir) == "/var/lib/trafficmon"
    keys = {entry.env.lower() for _, entry in options()}
    assert {"port", "traffic_cap_gb", "reset_day", "monitor_pass", "snaplen"} <= keys


def test_the_environment_beats_the_file_and_the_command_line_beats_both(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 9100\nhost = \"::1\"\nreset_day = 5\n")
    config = load_config(["--config", str(path), "--reset-day", "7"], {"PORT": "9200"}, default_file=NO_FILE)
    assert (config.port, config.host, config.accounting.reset_day) == (9200, "::1", 7)


def test_the_default_file_is_read_when_present_and_only_then(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 9300\n")
    assert load_config([], {}, default_file=path).port == 9300
    assert load_config([], {}, default_file=tmp_path / "absent.toml").port == 8080


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 70000\n", "trafficmon.toml: port=70000: must be from 0 to 65535, got 70000"),
        ("port = \"x\"\nsnaplen = 1\n", "port='x': must be a whole number"),
        ("metrics_public = \"maybe\"\n", "metrics_public='maybe': must be one of 1/0"),
        ("interfaces = \"eth0,a/b\"\n", "'a/b' is not an interface name"),
        ("ws_queue = true\n", "ws_queue=True: must be a whole number"),
        ("monitor_pass = \"a\\tb\"\n", "trafficmon.toml: monitor_pass (not shown): must not contain control characters"),
        ("prot = 1\n", "not a setting: prot (did you mean port?)"),
        ("[service]\nport = 1\n", "not a setting: service"),
        ("port = \n", "is not valid TOML"),
    ],
)
def test_what_the_file_gets_wrong_is_named_with_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_config(["--config", str(path)], {}, default_file=NO_FILE)
    assert message in str(refused.value)
    assert str(path) in str(refused.value)
    assert "\n" not in str(refused.value)
    assert "a\tb" not in str(refused.value)


def test_a_file_that_cannot_be_read_stops_the_start_with_exit_2(tmp_path: Path) -> None:
    result = run_module("--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert result.stderr == (
        f"trafficmon: cannot read the configuration file {tmp_path / 'missing.toml'}: No such file or directory\n"
    )


def test_config_says_each_value_and_its_source_and_never_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 9100\nmonitor_pass = \"hunter2\"\ntraffic_cap_gb = 750\n")
    result = run_module("config", "--config", str(path), "--reset-day", "3", PORT="9200",
                        API_TOKENS="a-token-of-twenty-chars")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "port = 9200  # environment PORT" in lines
    assert f"traffic_cap_gb = 750.0  # file {path}" in lines
    assert "reset_day = 3  # command line --reset-day" in lines
    assert 'host = "127.0.0.1"  # default' in lines
    assert f"# monitor_pass: set, not shown  # file {path}" in lines
    assert "# api_tokens: set, not shown  # environment API_TOKENS" in lines
    assert "hunter2" not in result.stdout and "a-token-of-twenty-chars" not in result.stdout
    assert len([line for line in lines if not line.startswith("# trafficmon")]) == len(options())


def test_what_config_prints_reads_back_as_the_same_configuration(tmp_path: Path) -> None:
    path = write(tmp_path, "interfaces = [\"eth0\"]\ncors_origins = \"https://a.example\"\nwarning_percent = 70\n")
    argv = ["--config", str(path), "--capture-filter", "tcp port \"443\""]
    printed = as_toml(effective(argv, {}, NO_FILE))
    assert tomllib.loads(printed)["capture_filter"] == 'tcp port "443"'
    again = tmp_path / "printed.toml"
    again.write_text(printed)
    assert load_config(["--config", str(again)], {}, default_file=NO_FILE) == load_config(argv, {}, default_file=NO_FILE)


def test_a_bad_configuration_makes_config_exit_2(tmp_path: Path) -> None:
    result = run_module("config", "--port", "x")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("trafficmon: --port='x': must be a whole number")
