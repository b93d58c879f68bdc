"""State files: what a trader set survives a restart, a crash mid-write and a bad file."""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest

from app.state_file import StateFile, StateFileError


class Settings(msgspec.Struct):
    columns: list[str] = []
    mode: str = "list"


def test_what_is_saved_is_loaded_again(tmp_path: Path) -> None:
    store = StateFile(tmp_path / "deep" / "view.json", Settings)
    assert store.load(Settings()) == Settings(), "no file yet: the defaults"
    store.save(Settings(["notional"], "fixed"))
    again = StateFile(tmp_path / "deep" / "view.json", Settings)
    assert again.load(Settings()) == Settings(["notional"], "fixed")
    assert again.problem == ""
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["view.json"], "no temp left"


@pytest.mark.parametrize("content", [b"{not json", b'{"columns": 3}', b"\xff\xfe"])
def test_a_bad_file_is_kept_aside_and_named_not_overwritten(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "view.json"
    path.write_bytes(content)
    store = StateFile(path, Settings)
    assert store.load(Settings(mode="default")) == Settings(mode="default")
    assert str(path) in store.problem and "view.json.bad" in store.problem
    assert (tmp_path / "view.json.bad").read_bytes() == content, "what was there is kept"
    store.save(Settings(["volume"]))
    assert (tmp_path / "view.json.bad").read_bytes() == content
    assert store.load(Settings()) == Settings(["volume"])


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes fail (EFBIG), as a full disk fails them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


def test_a_write_that_fails_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "view.json"
    store = StateFile(path, Settings)
    store.save(Settings(["notional"]))
    before = path.read_bytes()
    with file_size_limit(16), pytest.raises(StateFileError, match=r"view\.json: cannot be written"):
        store.save(Settings(["notional", "volume", "cumulative"] * 5, "fixed"))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["view.json"], "the partial temp is removed"


def test_a_directory_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    store = StateFile(tmp_path / "file" / "view.json", Settings)
    with pytest.raises(StateFileError, match=r"cannot be written \(.*file is a file, not a folder"):
        store.save(Settings())
