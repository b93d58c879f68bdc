"""The core never imports Textual (the split the README's map describes).

The core modules are imported in a fresh interpreter, so nothing this test process already
loaded can hide or fake the result; the probe is first shown to see Textual when it is there.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

SCREEN_SIDE = {"app.dashboard", "app.keymap", "app.screenshots"}
"""The modules of ``app`` that are the screen's: every other one is core."""

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))))
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
    """Every module of the ``app`` package, the screen's side aside."""
    import app

    names = [info.name for info in pkgutil.walk_packages(app.__path__, "app.")]
    return sorted(name for name in names if name not in SCREEN_SIDE)


def test_every_core_module_is_checked() -> None:
    modules = core_modules()
    assert {"app.feed", "app.books", "app.commands", "app.redact", "app.cli"} <= set(modules)
    assert "app.simulator.server" in modules and "app.dashboard" not in modules


def test_the_probe_sees_textual_when_it_is_imported() -> None:
    assert "textual.app" in textual_modules_loaded_by(["textual.app"])


def test_core_modules_load_no_textual() -> None:
    modules = core_modules()
    assert textual_modules_loaded_by(modules) == [], f"importing {modules} loaded Textual"
