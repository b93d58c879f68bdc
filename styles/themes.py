"""sordash's own Textual themes, and the check of a theme name from the config or ``--theme``.

The dashboard's colours all come from theme variables (``styles/dashboard.tcss``), so any
Textual theme recolours it; these two are made for reading a book: bids and asks, warnings,
badges and muted labels all well clear of their backgrounds (WCAG contrast 4.5:1 or better
in the light theme, 7:1 or better in the high-contrast one; the figures are under each).
The default stays Textual's ``textual-dark``.

Colours are written here and nowhere else (a test keeps them out of ``widgets/`` and
``app/dashboard.py``).
"""

from __future__ import annotations

from typing import Final

from textual.theme import BUILTIN_THEMES, Theme

from app.config import ConfigError

DEFAULT_THEME: Final = "textual-dark"
"""The theme when the config names none (Textual's own default, the dashboard's look)."""

LIGHT: Final = Theme(
    name="sordash-light",
    primary="#0969DA",
    secondary="#6639BA",
    accent="#BC4C00",
    warning="#9A6700",
    error="#CF222E",
    success="#1A7F37",
    foreground="#1F2328",
    background="#F6F8FA",
    surface="#FFFFFF",
    panel="#E6EAEF",
    dark=False,
    variables={
        # Textual makes these from the foreground with alpha (60% and 38%): on white that
        # is 4.3:1 for labels and 2.3:1 for stale rows. These give 6.1:1 and 3.5:1.
        "foreground-muted": "#59636E",
        "foreground-disabled": "#818B98",
        # Bid, ask and warning text in the colours themselves (Textual would darken them
        # towards black: these are already dark enough).
        "text-success": "#1A7F37",
        "text-error": "#CF222E",
        "text-warning": "#9A6700",
        "footer-key-foreground": "#0969DA",
    },
)
"""Dark text on white: bids 5.1:1, asks 5.4:1, warnings 4.9:1, muted labels 6.1:1, stale rows
3.5:1 (meant to recede); badges filled, with white text at 4.9:1 to 5.4:1."""

HIGH_CONTRAST: Final = Theme(
    name="sordash-high-contrast",
    primary="#4CC2FF",
    secondary="#B18CFF",
    accent="#FFD60A",
    warning="#FFD60A",
    error="#FF6B6B",
    success="#2EE66B",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1F1F1F",
    dark=True,
    text_alpha=1.0,
    variables={
        # Textual's would be 7.4:1 and 3.3:1 on black; these keep muted labels and stale
        # rows readable (13.6:1 and 8.8:1): dimmed means "not current", not "hard to read".
        "foreground-muted": "#D0D0D0",
        "foreground-disabled": "#A8A8A8",
        # Bid, ask and warning text in the colours themselves (Textual would tint them
        # towards white, paler and no easier to tell apart).
        "text-success": "#2EE66B",
        "text-error": "#FF6B6B",
        "text-warning": "#FFD60A",
        "footer-key-foreground": "#FFD60A",
    },
)
"""White on black: bids 12.6:1 and asks 7.6:1, apart in lightness as well as in hue (so
they differ to a red-green colour-blind eye too); warnings 14.9:1, muted labels 13.6:1;
badges filled, with black text at 7.5:1 or better."""

SORDASH_THEMES: Final = (LIGHT, HIGH_CONTRAST)
"""Registered with the dashboard app beside Textual's built-in themes."""


def theme_names() -> list[str]:
    """Every theme the dashboard can use: Textual's built-in ones and sordash's."""
    return sorted({*BUILTIN_THEMES, *(theme.name for theme in SORDASH_THEMES)})


def check_theme(name: str, where: str = "the config's [dashboard] theme") -> None:
    """Raise :class:`ConfigError` unless ``name`` is a theme there is; the message names
    ``where`` it came from (``config file PATH: [dashboard] theme``, ``--theme``), the bad
    value and every theme there is. (The app would otherwise refuse it only on start.)"""
    names = theme_names()
    if name not in names:
        raise ConfigError(f"{where} {name!r} is not a theme; use one of {', '.join(names)}")
