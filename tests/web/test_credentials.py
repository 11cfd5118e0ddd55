"""The password: given, or generated once, stored 0600 and reused; untrustworthy files refused."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from trafficmon.web.security.credentials import PASSWORD_FILE, TOKEN_FILE, CredentialsError, resolve_credentials

TOKENS = ("a-token-of-16-chars", "another_token.with~more")


def test_given_password_and_tokens_win_and_nothing_is_written(tmp_path: Path) -> None:
    creds = resolve_credentials("admin", "given", tmp_path / "data", TOKENS)
    assert (creds.user, creds.password, creds.source, creds.generated) == ("admin", "given", "MONITOR_PASS", False)
    assert (creds.tokens, creds.tokens_source, creds.tokens_generated) == (TOKENS, "API_TOKENS", False)
    assert not (tmp_path / "data").exists()
    assert "given" not in repr(creds) and TOKENS[0] not in repr(creds)


def test_token_generated_once_stored_0600_then_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = resolve_credentials("admin", "given", data)
    path = data / TOKEN_FILE
    assert (first.tokens_generated, first.tokens_source) == (True, str(path))
    (token,) = first.tokens
    assert len(token) >= 32
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token), "URL-safe, so it fits a WebSocket subprotocol and a URL alike"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == token + "\n"
    assert not (data / PASSWORD_FILE).exists(), "MONITOR_PASS was given"

    again = resolve_credentials("admin", "given", data)
    assert (again.tokens, again.tokens_generated) == ((token,), False)
    assert resolve_credentials("admin", "given", tmp_path / "other").tokens != (token,)


def test_a_token_file_may_list_several_tokens(tmp_path: Path) -> None:
    path = tmp_path / TOKEN_FILE
    path.write_text("\n".join(TOKENS) + "\n")
    path.chmod(0o600)
    assert resolve_credentials("admin", "pw", tmp_path).tokens == TOKENS


def test_token_file_readable_by_others_or_holding_a_bad_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / TOKEN_FILE
    path.write_text("short\n")
    path.chmod(0o644)
    with pytest.raises(CredentialsError) as caught:
        resolve_credentials("admin", "pw", tmp_path)
    assert str(caught.value) == f"the token file {path} is readable by others (mode 0644); run: chmod 600 {path}"
    path.chmod(0o600)
    with pytest.raises(CredentialsError) as caught:
        resolve_credentials("admin", "pw", tmp_path)
    assert str(caught.value) == (
        f"a token in {path} must be at least 16 characters (it has 5); delete the file to generate a new one"
    )


def test_generated_once_stored_0600_then_reused(tmp_path: Path) -> None:
    data = tmp_path / "nested" / "data"
    first = resolve_credentials("admin", None, data)
    path = data / PASSWORD_FILE
    assert first.generated is True
    assert first.source == str(path)
    assert len(first.password) >= 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert path.read_text() == first.password + "\n"

    again = resolve_credentials("admin", None, data)
    assert again.password == first.password
    assert again.generated is False


def test_each_install_gets_its_own_password(tmp_path: Path) -> None:
    one = resolve_credentials("admin", None, tmp_path / "a").password
    two = resolve_credentials("admin", None, tmp_path / "b").password
    assert one != two


def test_readable_by_others_is_refused(tmp_path: Path) -> None:
    resolve_credentials("admin", None, tmp_path)
    path = tmp_path / PASSWORD_FILE
    path.chmod(0o644)
    with pytest.raises(CredentialsError) as caught:
        resolve_credentials("admin", None, tmp_path)
    assert str(caught.value) == f"the password file {path} is readable by others (mode 0644); run: chmod 600 {path}"


def test_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("x\n")
    target.chmod(0o600)
    (tmp_path / PASSWORD_FILE).symlink_to(target)
    with pytest.raises(CredentialsError) as caught:
        resolve_credentials("admin", None, tmp_path)
    assert "cannot read the password file" in str(caught.value)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / PASSWORD_FILE
    path.write_text("\n")
    path.chmod(0o600)
    with pytest.raises(CredentialsError) as caught:
        resolve_credentials("admin", None, tmp_path)
    assert "is empty; delete it to generate a new one" in str(caught.value)


def test_unusable_data_dir_is_one_clear_error(tmp_path: Path) -> None:
    occupied = tmp_path / "data"
    occupied.write_text("a file, not a directory")
    with pytest.raises(CredentialsError) as caught:
        resolve_credentials("admin", None, occupied)
    assert str(caught.value) == f"cannot read the password file {occupied / PASSWORD_FILE}: Not a directory"


def test_uncreatable_data_dir_is_one_clear_error() -> None:
    data = Path("/sys/trafficmon-data")  # sysfs refuses mkdir, even to root
    with pytest.raises(CredentialsError) as caught:
        resolve_credentials("admin", None, data)
    assert str(caught.value).startswith(f"cannot create DATA_DIR {data}: ")
