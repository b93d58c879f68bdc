"""TextLines: a few lines of Rich text repainted line by line (Line API), for text that
changes at data rates: a market's header, its channel panel.

The text comes as one Rich ``Text``; each line is turned into a :class:`Strip` once and
kept, and only the lines whose text changed are repainted. As a ``Static`` such text was
rendered again whole on every change (about 0.4 ms a line, the costliest thing on screen
per line), and a one-line change repainted every line.

The text's spans may name the palette's component classes (:mod:`widgets.palette`); they
are resolved as each line is built, so a theme change (which drops the built lines)
recolours the text without new text.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip

from widgets.palette import PALETTE_CLASSES
from widgets.quiet import CachedStyles


class TextLines(CachedStyles):
    """Lines of Rich text, each repainted only when it changed; as tall as its text."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(PALETTE_CLASSES)
    DIRECT: ClassVar[bool] = True

    DEFAULT_CSS = """
    TextLines {
        height: auto;
    }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__()
        if classes:
            self.add_class(*classes.split())
        self._text: Text | None = Text()
        self._lines: list[Text] = []
        self._strips: dict[int, Strip] = {}
        self._strips_width = -1

    def render(self) -> Text:
        """The header's text (for tests and anything that reads it; painting is per line)."""
        if self._text is None:
            self._text = Text("\n").join(self._lines)
        return self._text

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """As many lines as the text has."""
        return len(self._lines)

    def show_text(self, text: Text) -> None:
        """Show ``text``; repaint the lines that differ from what is on screen."""
        if text == self._text:
            return
        self._show(list(text.split("\n", allow_blank=True)), text)

    def show_lines(self, lines: list[Text]) -> None:
        """Show ``lines`` (one line of text each, built apart: no split of one text)."""
        if lines != self._lines:
            self._show(lines, None)

    def _show(self, lines: list[Text], text: Text | None) -> None:
        old = self._lines
        self._text, self._lines = text, lines
        if len(lines) != len(old):
            self._strips.clear()
            self.refresh(layout=True)  # as tall as the text: the height changed
            return
        width = self.size.width
        changed = [y for y, (a, b) in enumerate(zip(old, lines, strict=True)) if a != b]
        for y in changed:
            self._strips.pop(y, None)
        if changed and width:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def forget_styles(self) -> None:
        """Styles changed: every line is built again."""
        super().forget_styles()
        self._strips = {}

    def on_resize(self) -> None:
        """The width changed: every line is built again."""
        self._strips = {}

    def render_line(self, y: int) -> Strip:
        """One line of the header (Line API)."""
        width = self.size.width
        base = self.base_style()
        if width != self._strips_width:
            self._strips = {}
            self._strips_width = width
        strip = self._strips.get(y)
        if strip is None:
            if y < len(self._lines):
                line = self.styled(self._lines[y])
                line.truncate(width, overflow="ellipsis")
                # Rich's own division of the text at its spans: the segments Static's
                # Content gives (the same cells, the same screenshots) in a third of the
                # time, which mattered for a header rebuilt at the touch's rate.
                segments = [
                    Segment(seg.text, base + seg.style if seg.style else base)
                    for seg in line.render(self.app.console, end="")
                ]
                # The padding has the background alone, as Static pads: the same cells.
                strip = self.line(segments, width, Style(bgcolor=base.bgcolor))
            else:
                strip = Strip.blank(width, base)
            self._strips[y] = strip
        return strip
