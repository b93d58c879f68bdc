"""The installed wheel owns one name, ``sordash``, and works beside a distribution owning ``app``.

Builds sordash's wheel and a small distribution whose package is ``app`` (as generic a name
as ours used to be), installs both into a new virtual environment, and runs ``sordash
stream --demo`` from there; then uninstalls the other distribution and runs it again. With
top-level ``app``/``widgets``/``styles`` packages, installing sordash overwrote the other
distribution's ``app/__init__.py`` and uninstalling it deleted sordash's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.feedkit import ROOT

pytestmark = pytest.mark.slow

OTHER_PYPROJECT = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "other-app"
version = "1.0"

[tool.hatch.build.targets.wheel]
packages = ["app"]
"""


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command (in ``cwd``: never the checkout, whose folders would be imported)."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def build_wheel(source: Path, out: Path) -> Path:
    """The wheel of the project in ``source``, built into the empty folder ``out``."""
    out.mkdir(parents=True)
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        out,
        source,
        cwd=out,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def test_the_wheel_owns_only_sordash_and_runs_beside_another_app(tmp_path: Path) -> None:
    other = tmp_path / "other-app"
    (other / "app").mkdir(parents=True)
    (other / "pyproject.toml").write_text(OTHER_PYPROJECT)
    (other / "app" / "__init__.py").write_text('OWNER = "other-app"\n')
    ours = build_wheel(ROOT, tmp_path / "ours")
    theirs = build_wheel(other, tmp_path / "theirs")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python, sordash = env_dir / "bin" / "python", env_dir / "bin" / "sordash"
    run(python, "-m", "pip", "install", "-q", theirs, cwd=tmp_path)
    run(python, "-m", "pip", "install", "-q", ours, cwd=tmp_path)

    # Theirs is intact, and the wheel's files are all under sordash/.
    owner = run(python, "-c", "import app; print(app.OWNER)", cwd=tmp_path).stdout.strip()
    assert owner == "other-app"
    record = run(python, "-m", "pip", "show", "-f", "sordash", cwd=tmp_path).stdout
    files = [line.strip() for line in record.splitlines() if line.startswith("  ")]
    assert files and all(f.startswith(("sordash/", "sordash-", "../../../bin/")) for f in files)
    assert "sordash/app/serve_page/app_index.html" in files  # `sordash serve`'s page

    def stream_demo() -> None:
        result = run(
            sordash,
            "stream",
            "--demo",
            "--markets",
            "BTCUSD",
            "--duration",
            "1",
            "--interval",
            "0.2",
            cwd=tmp_path,
        )
        kinds = {json.loads(line)["kind"] for line in result.stdout.splitlines()}
        assert "book" in kinds

    stream_demo()
    run(python, "-m", "pip", "uninstall", "-q", "-y", "other-app", cwd=tmp_path)
    stream_demo()  # uninstalling theirs took nothing of ours
