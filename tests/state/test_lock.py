"""The DATA_DIR lock, held by a real second process."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from trafficmon.state.datadir import DataDirUnusable
from trafficmon.state.lock import DataDirBusy, data_dir_lock
from tests.support.accounting import held



def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with held(data_dir) as holder:
        with pytest.raises(DataDirBusy, match=rf"in use by another trafficmon \(pid {holder.pid}\)"):
            with data_dir_lock(data_dir):
                pytest.fail("the lock was taken twice")


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with held(data_dir) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with data_dir_lock(data_dir):
        assert (data_dir / "lock").read_text() == f"{os.getpid()}\n"
    assert (data_dir / "lock").stat().st_mode & 0o777 == 0o600


def test_released_on_exit_and_taken_again(tmp_path: Path) -> None:
    with data_dir_lock(tmp_path):
        pass
    with data_dir_lock(tmp_path):
        pass


def test_a_data_dir_under_a_file_is_refused_by_the_lock(tmp_path: Path) -> None:
    """The lock is the first write to DATA_DIR at start: it is where an unusable one is first refused."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DataDirUnusable, match=rf"^DATA_DIR {blocker / 'data'} is not usable: Not a directory$"):
        with data_dir_lock(blocker / "data"):
            pytest.fail("the lock was taken under a file")
