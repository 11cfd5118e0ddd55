"""Frames from pcap and pcapng files, read with scapy's raw readers (no dissection)."""

from __future__ import annotations

import os
import socket
from typing import Any

from scapy.error import Scapy_Exception
from scapy.utils import RawPcapNgReader

from trafficmon.capture.errors import CaptureError
from trafficmon.capture.parse import LINKTYPE_ETHERNET

PKTTYPE_UNKNOWN = -1
"""pkttype of a frame whose direction is not known (files without it, lists)."""

_EPB_DIRECTION_TO_PKTTYPE = {1: socket.PACKET_HOST, 2: socket.PACKET_OUTGOING}
"""pcapng EPB flags bits 0-1 (1 inbound, 2 outbound) as the kernel's packet types."""


class PcapSource:
    """A pcap or pcapng file as a frame source: batches until the end, then [].

    `linktype` comes from the file. A pcapng file may hold interfaces of
    different link types: a batch then ends where the type changes, and
    `linktype` always describes the frames of the latest read(). `wirelen` is
    each record's original length; `pkttype` comes from a pcapng packet's
    direction flag when it has one, else -1. `iface` is the path.
    """

    def __init__(self, path: str | os.PathLike[str], batch: int = 4096) -> None:
        self.iface = os.fspath(path)
        self._batch = batch
        self.exhausted = False
        self._delivered = 0
        try:
            file = open(self.iface, "rb")  # noqa: SIM115 (the reader owns it until close())
        except OSError as exc:
            raise CaptureError(f"cannot read {self.iface}: {exc.strerror or exc}") from exc
        try:
            # Handed an open file (not the path), because scapy leaves a path it
            # opened open when the contents turn out not to be a capture.
            self._reader = RawPcapNgReader(file)  # type: ignore[arg-type]  # falls back to RawPcapReader for pcap
        except (OSError, EOFError, Scapy_Exception) as exc:
            file.close()
            raise CaptureError(f"{self.iface} is not a pcap or pcapng file: {exc}") from exc
        self._ng = isinstance(self._reader, RawPcapNgReader)
        self._records = iter(self._reader)
        self._pending = self._next_record()
        if self._pending is not None:
            self.linktype = self._pending[0]
        elif self._ng:
            self.linktype = self._reader.interfaces[0][0] if self._reader.interfaces else LINKTYPE_ETHERNET
        else:
            self.linktype = self._reader.linktype

    def _next_record(self) -> tuple[int, bytes, int, int] | None:
        """(linktype, data, wirelen, pkttype) of the next packet, or None at the end."""
        record: tuple[bytes, Any] | None = next(self._records, None)
        if record is None:
            return None
        data, meta = record
        if self._ng:
            pkttype = _EPB_DIRECTION_TO_PKTTYPE.get(meta.direction, PKTTYPE_UNKNOWN)
            return meta.linktype, data, meta.wirelen, pkttype
        return self._reader.linktype, data, meta.wirelen, PKTTYPE_UNKNOWN

    def fileno(self) -> int:
        """-1: a file is always ready."""
        return -1

    def read(self) -> list[tuple[bytes, int, int, int, int]]:
        """The next batch of frames of one link type; [] once the file is exhausted."""
        frames: list[tuple[bytes, int, int, int, int]] = []
        record = self._pending
        if record is not None:
            self.linktype = record[0]
        while record is not None and len(frames) < self._batch:
            linktype, data, wirelen, pkttype = record
            if linktype != self.linktype:
                break
            frames.append((data, 0, len(data), wirelen, pkttype))
            record = self._next_record()
        self._pending = record
        if record is None:
            self.exhausted = True
        self._delivered += len(frames)
        return frames

    def stats(self) -> tuple[int, int]:
        """(frames delivered, 0) since the previous call: a file drops nothing."""
        delivered, self._delivered = self._delivered, 0
        return delivered, 0

    def close(self) -> None:
        """Close the file; idempotent."""
        self._reader.close()
        self.exhausted = True
