"""Peak memory of the two things a hostile or huge feed can make the client hold.

- ``memory_snapshot_100k``: one SNAPSHOT of 100,000 levels (50,000 a side, about 5 MB of
  JSON: the largest book the frame limit is meant to admit), decoded and applied.
- ``memory_flood_bounded``: UPDATEs of 250 levels each sent before the SNAPSHOT until the
  buffer's level bound (``DEFAULT_BUFFER_LEVELS``) refuses more; against the same flood
  with the bound lifted (9,000 UPDATEs: what took 405 MiB before the bound existed).

Each figure is measured in a fresh process (peak resident memory, ``VmHWM``) as the
increase over a baseline process that built the same frames and held no book, and is
reported against the size of the data it holds (the frames' bytes).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

from app.books import DEFAULT_BUFFER_LEVELS
from benchmarks.common import report

SNAPSHOT_LEVELS: Final = 50_000
FLOOD_LEVELS: Final = 250
UNBOUNDED_UPDATES: Final = 9_000


def _price(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def snapshot_frame(per_side: int) -> bytes:
    """A SNAPSHOT with ``per_side`` levels on each side, as the wire carries it."""
    mid = 5_000_000_00
    bids = [{"price": _price(mid - k), "amount": f"0.{k % 10**8:08d}"} for k in range(1, per_side)]
    asks = [{"price": _price(mid + k), "amount": f"1.{k % 10**8:08d}"} for k in range(1, per_side)]
    payload = {
        "market": "BTCUSD",
        "type": "SNAPSHOT",
        "time": "2024-01-15T10:30:00.123456789Z",
        "bids": bids,
        "asks": asks,
    }
    return json.dumps({"channel": "market_data", "payload": payload}).encode()


def flood_frames(count: int) -> list[bytes]:
    """``count`` UPDATEs of :data:`FLOOD_LEVELS` levels, distinct amounts (nothing shared)."""
    frames = []
    for n in range(count):
        levels = [
            {"price": _price(4_000_000_00 + n * FLOOD_LEVELS + k), "amount": f"0.{n:06d}{k:04d}"}
            for k in range(FLOOD_LEVELS)
        ]
        payload = {
            "market": "BTCUSD",
            "type": "UPDATE",
            "time": f"2024-01-15T10:30:{n % 60:02d}.{n:09d}Z",
            "bids": levels,
            "asks": [],
        }
        frames.append(json.dumps({"channel": "market_data", "payload": payload}).encode())
    return frames


def _child(what: str, path: str) -> None:
    """Read the frames in ``path``, hold what ``what`` says, print the peak RSS (KiB) and the
    bytes held. The frames are built by the parent and streamed from a file, so building
    them (far larger in Python objects than on the wire) is in no child's peak."""
    from app.books import BookStore
    from app.protocol import BookMessage, decode_frame

    held = 0
    if what.startswith("snapshot"):
        frame = Path(path).read_bytes()
        held = len(frame)
        if what == "snapshot":
            store = BookStore()
            message = decode_frame(frame)
            assert isinstance(message, BookMessage)
            book = store.apply(message)
            assert len(book.bids) + len(book.asks) >= 2 * SNAPSHOT_LEVELS - 2
            del message
    else:
        store = BookStore(
            buffer_limit=10**9,
            buffer_levels=DEFAULT_BUFFER_LEVELS if what == "flood" else 10**12,
        )
        book = store.book("BTCUSD")
        with open(path, "rb") as frames:
            for frame in frames:
                if what == "flood-base":
                    continue
                message = decode_frame(frame)
                assert isinstance(message, BookMessage)
                store.apply(message)
                if book.needs_resync:
                    break
                held += len(frame)
    print(json.dumps({"peak_kib": _peak_kib(), "held": held}))


def _peak_kib() -> int:
    """This process's peak resident memory in KiB: ``VmHWM`` belongs to the address space the
    exec made, where ``ru_maxrss`` starts from the forking parent's (a large benchmark run
    made every child look as big as itself)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _measure(what: str, path: Path) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_memory", "--child", what, str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    reading = json.loads(out)
    return reading["peak_kib"] / 1024, int(reading["held"])


def run() -> None:
    """Print the ``BENCH memory_*`` lines."""
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = Path(tmp) / "snapshot.json"
        snapshot.write_bytes(snapshot_frame(SNAPSHOT_LEVELS))
        flood = Path(tmp) / "flood.jsonl"
        with flood.open("wb") as out:
            for frame in flood_frames(UNBOUNDED_UPDATES):
                out.write(frame + b"\n")
        base_snapshot, _ = _measure("snapshot-base", snapshot)
        peak, held = _measure("snapshot", snapshot)
        base_flood, _ = _measure("flood-base", flood)
        bounded, held_bounded = _measure("flood", flood)
        unbounded, held_unbounded = _measure("unbounded", flood)
    extra = peak - base_snapshot
    report("memory_snapshot_100k_peak", extra, "MiB", extra / (held / 2**20), "its frame's size")
    bounded_extra, unbounded_extra = bounded - base_flood, unbounded - base_flood
    report(
        "memory_flood_bounded_peak",
        bounded_extra,
        "MiB",
        bounded_extra / (held_bounded / 2**20),
        "the bytes it buffered",
    )
    report(
        "memory_flood_unbounded_peak",
        unbounded_extra,
        "MiB",
        unbounded_extra / (held_unbounded / 2**20),
        "the bytes it buffered",
    )
    report(
        "memory_flood_bound_saves",
        unbounded_extra - bounded_extra,
        "MiB",
        bounded_extra / unbounded_extra if unbounded_extra > 0 else None,
        "unbounded",
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3])
    else:
        run()
