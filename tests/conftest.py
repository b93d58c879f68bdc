"""Test-wide fixtures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.redact import REDACTOR


@pytest.fixture(autouse=True)
def _no_real_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test writes into the real user data or state directories (the record key's
    default, the view settings and alerts files): the XDG data and state homes are
    temporary directories for every test, so no test sees another's settings either."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts with a redactor that knows no secret: the process's redactor is
    global, and a secret one test taught it (``"secret-value"``) would mask that text in
    the next test's messages."""
    REDACTOR.forget()
    yield
    REDACTOR.forget()


@pytest.fixture(scope="session")
def recorded_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording of a real simulator session with a bad frame and a drop, made once
    (:func:`tests.replaykit.record_session`)."""
    from tests.replaykit import record_session

    path = tmp_path_factory.mktemp("replay") / "session.rec.zst"
    asyncio.run(record_session(path))
    return path
