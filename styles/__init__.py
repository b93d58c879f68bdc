"""The dashboard's Textual CSS (``*.tcss``), shipped inside the wheel.

``STYLES_DIR`` is the absolute folder, so ``CSS_PATH`` works wherever sordash is installed.
"""

from pathlib import Path

STYLES_DIR = Path(__file__).resolve().parent
