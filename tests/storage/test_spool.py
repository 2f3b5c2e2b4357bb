"""The ingest spool: fsync'd records survive reopening, torn tails are cut off, loaded segments go."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spyglass.storage._spool import Spool, SpoolError


def _records(spool: Spool) -> list[tuple[int, str, bytes]]:
    return [(r.seq, r.kind, r.body) for r in spool.unloaded()]


def test_records_after_the_loaded_position_come_back_on_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 0)
    assert spool.append([("traces/protobuf", b"one"), ("logs/json", b"{}")]) == 2
    assert spool.append([("metrics/protobuf", b"")]) == 3
    spool.close()

    assert _records(Spool(tmp_path, 0)) == [
        (1, "traces/protobuf", b"one"),
        (2, "logs/json", b"{}"),
        (3, "metrics/protobuf", b""),
    ]
    reopened = Spool(tmp_path, 2)  # the database has loaded up to record 2
    assert _records(reopened) == [(3, "metrics/protobuf", b"")]
    assert _records(reopened) == []  # handed out once
    # Numbering continues after the last record on disk, never reusing a number.
    assert reopened.append([("traces/protobuf", b"four")]) == 4
    reopened.close()
    assert [r[0] for r in _records(Spool(tmp_path, 0))] == [1, 2, 3, 4]


def test_numbering_continues_after_the_position_when_the_spool_was_emptied(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 0)
    spool.append([("traces/protobuf", b"x")] * 3)
    spool.trim(3)
    spool.close()
    again = Spool(tmp_path, 3)  # every segment was deleted: the database's position is the floor
    assert again.append([("traces/protobuf", b"y")]) == 4
    again.close()


def test_an_unfinished_write_at_the_tail_is_cut_off(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 0)
    spool.append([("traces/protobuf", b"a" * 100), ("traces/protobuf", b"b" * 100)])
    spool.close()
    (segment,) = tmp_path.glob("*.spool")
    whole = segment.stat().st_size
    with open(segment, "ab") as f:  # a crash in the middle of the next append (never acknowledged)
        f.write(b"\x10\x00\x00\x00garbage")

    reopened = Spool(tmp_path, 0)
    assert [r[2] for r in _records(reopened)] == [b"a" * 100, b"b" * 100]
    assert segment.stat().st_size == whole
    assert reopened.append([("traces/protobuf", b"c")]) == 3
    reopened.close()
    assert [r[2] for r in _records(Spool(tmp_path, 0))] == [b"a" * 100, b"b" * 100, b"c"]


def test_a_record_failing_its_checksum_ends_the_readable_part(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 0)
    spool.append([("traces/protobuf", b"first"), ("traces/protobuf", b"second")])
    spool.close()
    (segment,) = tmp_path.glob("*.spool")
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF  # the last byte of the second body
    segment.write_bytes(bytes(data))
    assert [r[2] for r in _records(Spool(tmp_path, 0))] == [b"first"]


def test_loaded_segments_are_deleted_and_the_rest_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 0, segment_bytes=100)
    for i in range(6):
        spool.append([("traces/protobuf", bytes([i]) * 150)])  # one record per segment
    assert len(list(tmp_path.glob("*.spool"))) == 6
    spool.trim(3)
    assert sorted(int(p.stem) for p in tmp_path.glob("*.spool")) == [4, 5, 6]
    spool.trim(6)  # the segment being appended to stays
    assert sorted(int(p.stem) for p in tmp_path.glob("*.spool")) == [6]
    spool.close()
    Spool(tmp_path, 6).close()  # opened with everything loaded: nothing is left
    assert list(tmp_path.glob("*.spool")) == []


def test_a_failed_append_is_reported_and_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(tmp_path, 0)
    spool.append([("traces/protobuf", b"kept")])

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fdatasync", no_space)
    with pytest.raises(SpoolError, match="No space left on device"):
        spool.append([("traces/protobuf", b"lost")])
    monkeypatch.undo()
    assert spool.append([("traces/protobuf", b"after")]) == 2
    spool.close()
    assert [(r[0], r[2]) for r in _records(Spool(tmp_path, 0))] == [(1, b"kept"), (2, b"after")]
