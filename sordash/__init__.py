"""sordash: the one package an installed sordash owns, and the command's entry point.

The repository keeps the product's code in top-level folders (``app/``, ``widgets/``,
``styles/``). A wheel installs them inside this package (``sordash/app``, ...), so that
sordash owns no name on disk but its own: as top-level packages, installing sordash
overwrote another distribution's ``app/__init__.py`` and uninstalling that one deleted
sordash's. The code imports the folders by their short names; :func:`main` puts the folder
that holds them first on ``sys.path`` for the sordash process (inside this package once
installed, the repository's root when run from a checkout).
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
ROOT = _HERE if (_HERE / "app").is_dir() else _HERE.parent
"""The folder that holds ``app/``, ``widgets/`` and ``styles/``."""


def main() -> int:
    """The ``sordash`` command."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from app.cli import main as cli_main

    return cli_main()
