"""What `trafficmon top` shows of a frame, and where its credentials come from (no terminal needed)."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

import pytest

from trafficmon.web.top import command, view
from trafficmon.web.top.view import Frame

CURL = {"pid": 40, "name": "curl", "cmdline": "curl -O http://x", "username": "root", "connections": 1,
        "upload_speed": 2_000.0, "download_speed": 1_200_000.0, "bytes_sent": 10_000, "bytes_received": 9_000_000}
SSHD = {"pid": 7, "name": "sshd", "cmdline": "sshd: ops", "username": "ops", "connections": 2,
        "upload_speed": 50_000.0, "download_speed": 3_000.0, "bytes_sent": 80_000_000, "bytes_received": 1_000}
FRAME = Frame(seq=3, processes=(CURL, SSHD), stats={"total_upload_speed": 52_000, "total_download_speed": 1_203_000,
                                                     "active_connections": 3, "processes": 2},
              capture={"level": "degraded", "problems": ["kernel drops"]},
              traffic={"used_percent": 31.0, "cap_bytes": 500_000_000_000, "level": "ok"})


@pytest.mark.parametrize(("value", "rate", "amount"), [
    (0, "0 B/s", "0 B"), (999, "999 B/s", "999 B"), (1_500, "1.5 kB/s", "1.5 kB"),
    (1_200_000, "1.2 MB/s", "1.2 MB"), (3e9, "3.0 GB/s", "3.0 GB"), (None, "0 B/s", "0 B"),
])
def test_speeds_and_amounts_read_as_the_dashboard_writes_them(value: float | None, rate: str, amount: str) -> None:
    assert (view.rate(value), view.amount(value)) == (rate, amount)


@pytest.mark.parametrize(("sort", "first"), [
    ("total", "curl"), ("download", "curl"), ("upload", "sshd"), ("sent", "sshd"), ("received", "curl"),
    ("pid", "sshd"), ("name", "curl"),
])
def test_every_sort_orders_the_rows(sort: str, first: str) -> None:
    assert view.rows(FRAME, "processes", sort)[0]["name"] == first
    assert sort in view.SORTS


def test_the_filter_matches_name_pid_user_and_command() -> None:
    names = lambda text: [r["name"] for r in view.rows(FRAME, "processes", "pid", text)]  # noqa: E731
    assert names("CURL") == ["curl"] and names("40") == ["curl"] and names("ops") == ["sshd"]
    assert names("") == ["sshd", "curl"] and names("nothing") == []


def test_cells_follow_the_columns() -> None:
    assert len(view.cells(CURL, "processes")) == len(view.columns("processes"))
    assert view.cells(CURL, "processes")[:4] == ("40", "curl", "2.0 kB/s", "1.2 MB/s")
    connection = {"pid": None, "process_name": "unknown", "transport": "udp", "local_addr": "10.0.0.1:53",
                  "remote_addr": "10.0.0.2:5353", "remote_name": None, "state": ""}
    assert view.cells(connection, "connections")[:5] == ("", "unknown", "udp", "10.0.0.1:53", "10.0.0.2:5353")


def test_the_summary_has_totals_health_and_the_cap_gauge() -> None:
    assert view.summary(FRAME) == (
        "up 52.0 kB/s | down 1.2 MB/s | 3 connections | 2 processes | capture degraded (kernel drops) | "
        "cap [######--------------] 31.0 % of 500.0 GB (ok)")
    assert view.gauge(None) == "cap: kept by the service (top --url)"
    assert view.gauge({"used_percent": 130.0, "cap_bytes": 1e9, "level": "exceeded"}).startswith("cap [" + "#" * 20 + "]")


def test_credentials_come_from_options_then_environment_then_the_stored_token(tmp_path: Path) -> None:
    args = command.parser().parse_args([])
    token_file = tmp_path / "api-token"
    token_file.write_text("stored-token-0123456789\n")
    basic = lambda user, password: "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()  # noqa: E731
    assert command.authorization(args, {"MONITOR_PASS": "pw"}, [token_file]) == basic("admin", "pw")
    assert command.authorization(args, {"MONITOR_PASS": "pw", "MONITOR_USER": "ops"}, []) == basic("ops", "pw")
    assert command.authorization(args, {"TRAFFICMON_TOKEN": "env-token"}, [token_file]) == "Bearer env-token"
    assert command.authorization(args, {}, [tmp_path / "none", token_file]) == "Bearer stored-token-0123456789"
    assert command.authorization(args, {}, [tmp_path / "none"]) is None
    given = argparse.Namespace(**{**vars(args), "token": "flag-token"})
    assert command.authorization(given, {"TRAFFICMON_TOKEN": "env-token"}, [token_file]) == "Bearer flag-token"


def test_a_bad_url_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(["--url", "ftp://x"], {}, []) == 2
    assert capsys.readouterr().err == "trafficmon top: --url 'ftp://x': expected http://HOST:PORT or https://HOST:PORT\n"
