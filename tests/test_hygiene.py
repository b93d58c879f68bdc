"""The core never imports Textual (style.md, habit 1).

The core modules are imported in a fresh interpreter, so nothing this test process already
loaded can hide or fake the result; the probe is first shown to see Textual when it is there.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

CORE = ["app.protocol", "app.books", "app.tape", "app.auth", "app.feed", "app.events"]
OPTIONAL = ["app.simulator"]  # written later; checked as soon as it exists

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("textual"))))
"""


def textual_modules_loaded_by(modules: list[str]) -> list[str]:
    """Import ``modules`` in a new interpreter; the Textual modules it then has loaded."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def core_modules() -> list[str]:
    return CORE + [name for name in OPTIONAL if importlib.util.find_spec(name) is not None]


def test_the_probe_sees_textual_when_it_is_imported() -> None:
    assert "textual.app" in textual_modules_loaded_by(["textual.app"])


def test_core_modules_load_no_textual() -> None:
    modules = core_modules()
    assert textual_modules_loaded_by(modules) == [], f"importing {modules} loaded Textual"
