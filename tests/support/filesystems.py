"""Small real file systems for fault tests: an ext4 image that can be made to fail, a tmpfs that fills.

Both are mounted under the test's tmp_path and unmounted by their fixtures,
whatever the test did. Faults are the kernel's own: ext4's shutdown ioctl
makes every later read and write of the file system fail with EIO (as a dying
disk does), and a full tmpfs answers ENOSPC.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

EXT4_IOC_SHUTDOWN = 0x8004587D
"""_IOR('X', 125, __u32), from linux/fs.h (the ioctl xfstests' godown uses)."""
EXT4_GOING_FLAGS_NOLOGFLUSH = 2
"""Shut down without flushing the journal: what is not on disk by then is lost, as in a crash."""


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


class Ext4Image:
    """An ext4 file system in a file, loop-mounted at `mount`."""

    def __init__(self, image: Path, mount: Path, size_mb: int = 16) -> None:
        self.image = image
        self.mount = mount
        with image.open("wb") as handle:
            handle.truncate(size_mb * 1024 * 1024)
        _run("mkfs.ext4", "-q", "-F", str(image))
        mount.mkdir()
        self.mounted = False
        self.remount()

    def shut_down(self) -> None:
        """Every later I/O on the file system fails (EIO) until it is mounted again."""
        fd = os.open(self.mount, os.O_RDONLY)
        try:
            fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
        finally:
            os.close(fd)

    def remount(self) -> None:
        """Mount again (the "repaired disk"): what reached it before the fault is there."""
        self.unmount()
        _run("mount", "-o", "loop", str(self.image), str(self.mount))
        self.mounted = True

    def unmount(self) -> None:
        if self.mounted:
            _run("umount", str(self.mount))
            self.mounted = False


class Tmpfs:
    """A tmpfs of `size_kb` at `mount`, with a filler file to use up its space."""

    def __init__(self, mount: Path, size_kb: int) -> None:
        self.mount = mount
        mount.mkdir()
        _run("mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0700", "tmpfs", str(mount))
        self.filler = mount / "filler"

    def fill(self) -> None:
        """Use up every free byte (dd until ENOSPC, as the issue's report did)."""
        with self.filler.open("ab", buffering=0) as handle:
            block = b"\0" * 4096
            try:
                while True:
                    handle.write(block)
            except OSError:
                pass

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        _run("umount", str(self.mount))


@pytest.fixture
def ext4(tmp_path: Path) -> Iterator[Ext4Image]:
    image = Ext4Image(tmp_path / "ext4.img", tmp_path / "ext4")
    try:
        yield image
    finally:
        image.unmount()
        image.image.unlink()


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    fs = Tmpfs(tmp_path / "tmpfs", size_kb=1024)
    try:
        yield fs
    finally:
        fs.unmount()
