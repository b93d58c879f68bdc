"""Test-wide fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.redact import REDACTOR


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts with a redactor that knows no secret: the process's redactor is
    global, and a secret one test taught it (``"secret-value"``) would mask that text in
    the next test's messages."""
    REDACTOR.forget()
    yield
    REDACTOR.forget()
