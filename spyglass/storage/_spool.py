"""The ingest spool: an append-only, fsync'd log of acknowledged requests not yet in DuckDB.

The collector acknowledges a request once its body is in the spool and on disk; the writer
loads the decoded rows into DuckDB afterwards, in transactions large enough that DuckDB writes
their row groups straight into the database file (no WAL copy, no checkpoint rewrite). Each
load transaction also stores the sequence number of the last spooled record it contains
(``ingest_spool.position``), so after a crash the records after that position are decoded
again and loaded before the server takes traffic: nothing acknowledged is lost and nothing is
loaded twice.

On disk: ``<data-dir>/spool/<first seq>.spool`` segments of records::

    u32 body length | u32 crc32(seq, kind, body) | u64 seq | u8 len(kind) | kind | body

``kind`` names how to decode the body (the collector uses ``"traces/protobuf"`` and so on); the
spool itself does not interpret it. A record cut short or failing its checksum can only be the
tail of a write that was never acknowledged (appends are fsync'd before anyone is told), so
reading stops there and the tail is cut off.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Record", "Spool", "SpoolError"]

log = logging.getLogger("spyglass.storage")

_HEADER = struct.Struct("<IIQB")
_SUFFIX = ".spool"
SEGMENT_BYTES = 64 * 1024**2


class SpoolError(OSError):
    """The spool cannot be written (disk full, permissions...); the message says why."""


@dataclass(frozen=True)
class Record:
    seq: int
    kind: str
    body: bytes


def _checksum(seq: int, kind: bytes, body: bytes) -> int:
    return zlib.crc32(body, zlib.crc32(kind, zlib.crc32(seq.to_bytes(8, "little"))))


def _read_segment(path: Path) -> tuple[list[Record], int]:
    """The whole records of one segment, and the byte offset where they end."""
    data = path.read_bytes()
    records: list[Record] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc, seq, kind_len = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        end = start + kind_len + length
        if end > len(data):
            break
        kind = data[start : start + kind_len]
        body = data[start + kind_len : end]
        if _checksum(seq, kind, body) != crc:
            break
        try:
            records.append(Record(seq, kind.decode("ascii"), body))
        except UnicodeDecodeError:
            break
        offset = end
    return records, offset


class Spool:
    """Segments of spooled records in ``directory``; one appender (the writer's journal thread)."""

    def __init__(self, directory: Path, position: int, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        """Open the spool; records up to ``position`` are loaded already (from the database)."""
        self.directory = directory
        self._segment_bytes = segment_bytes
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create the ingest spool {directory}: {exc.strerror}") from None
        self._unloaded: list[Record] = []
        last = position
        for path in self._segments():
            records, end = _read_segment(path)
            size = path.stat().st_size
            if end < size:
                log.warning("ingest spool %s: cutting off %d bytes of an unfinished write", path, size - end)
                with open(path, "r+b") as f:
                    f.truncate(end)
                    os.fsync(f.fileno())
            for record in records:
                last = max(last, record.seq)
                if record.seq > position:
                    self._unloaded.append(record)
        self._next = last + 1
        self._file: io.FileIO | None = None
        self._file_bytes = 0
        self.trim(position)

    def _segments(self) -> list[Path]:
        """Segment files, oldest first (names are their first sequence number, zero-padded)."""
        return sorted(p for p in self.directory.iterdir() if p.suffix == _SUFFIX and p.stem.isdigit())

    def unloaded(self) -> Iterator[Record]:
        """Records found on opening that the database does not have yet (oldest first), once."""
        records, self._unloaded = self._unloaded, []
        yield from records

    def append(self, entries: list[tuple[str, bytes]]) -> int:
        """Append ``(kind, body)`` records and fsync; returns the last one's sequence number."""
        if not entries:
            return self._next - 1
        parts: list[bytes] = []
        for kind, body in entries:
            kind_bytes = kind.encode("ascii")
            seq = self._next
            self._next += 1
            parts.append(_HEADER.pack(len(body), _checksum(seq, kind_bytes, body), seq, len(kind_bytes)))
            parts.append(kind_bytes)
            parts.append(body)
        try:
            if self._file is None or self._file_bytes >= self._segment_bytes:
                self._rotate(self._next - len(entries))
            assert self._file is not None
            data = memoryview(b"".join(parts))
            written = 0
            while written < len(data):
                written += self._file.write(data[written:]) or 0
            os.fdatasync(self._file.fileno())
        except OSError as exc:
            # Nothing of this append is acknowledged; cut it off so the next one starts clean.
            self._next -= len(entries)
            self._abandon_tail()
            raise SpoolError(f"cannot write the ingest spool {self.directory}: {exc.strerror or exc}") from None
        self._file_bytes += written
        return self._next - 1

    def _rotate(self, first_seq: int) -> None:
        if self._file is not None:
            self._file.close()
        path = self.directory / f"{first_seq:020d}{_SUFFIX}"
        self._file = io.FileIO(path, "a")
        self._file_bytes = self._file.tell()
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new segment's name is durable before anything in it is acknowledged
        finally:
            os.close(dir_fd)

    def _abandon_tail(self) -> None:
        if self._file is None:
            return
        try:
            self._file.truncate(self._file_bytes)
        except OSError:
            self._file.close()
            self._file = None  # the next append starts a new segment; reading stops at the bad tail

    def trim(self, position: int) -> None:
        """Delete the segments whose records are all loaded (every seq <= ``position``)."""
        segments = self._segments()
        current = Path(str(self._file.name)) if self._file is not None else None
        for path, following in zip(segments, segments[1:], strict=False):
            if int(following.stem) - 1 <= position and path != current:
                try:
                    path.unlink()
                except OSError as exc:
                    log.warning("cannot delete loaded spool segment %s: %s", path, exc)
        if segments and current is None and self._next - 1 <= position:
            # the last segment, not being appended to, holds nothing unloaded either
            try:
                segments[-1].unlink()
            except OSError as exc:
                log.warning("cannot delete loaded spool segment %s: %s", segments[-1], exc)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
