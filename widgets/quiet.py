"""Repainting at data rates cheaply: ``Static`` updates without relayouts, cached styles.

``Static.update`` asks for a layout pass by default, and a layout pass repaints the whole
screen: at a 30 Hz refresh with four markets that alone costs more than the data. The
helper here updates only when the content really changed, and asks for layout only when
the number of lines changed (the one way such a widget's size can change here).

Styles are resolved once per theme (:class:`CachedStyles`), and text that names the
palette's component classes (:mod:`widgets.palette`) is given their styles when painted
(:meth:`CachedStyles.styled`, :class:`StyledStatic`): no colour is written in a widget.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from widgets.palette import PALETTE_CLASSES


def update_static(widget: Static, text: Text, last: Text | None) -> Text:
    """Show ``text`` in ``widget`` if it differs from ``last``; returns what is shown."""
    if last is not None and text == last:
        return last
    lines = text.plain.count("\n")
    relayout = last is None or lines != last.plain.count("\n")
    widget.update(text, layout=relayout)
    return text


class CachedLines(Widget):
    """A widget whose rendered lines are kept until it is refreshed or restyled.

    Textual's compositor paints the bounding box of everything that changed in a screen
    update, and asks every widget overlapping it for its lines, changed or not; with four
    markets changing in four corners that is every widget on the screen, 28 of them, on
    every update, each costing a few hundred microseconds to hand back lines it already had
    (its background, filters and crops worked out again). A widget that was not refreshed
    since it last rendered the same region hands back the same lines here. Anything that
    can change what it shows (``refresh`` in every form, a style update, a resize) drops
    them.
    """

    _rendered: tuple[Region, list[Strip]] | None = None

    def refresh(self, *regions: Region, **kwargs: Any) -> Any:
        """Drop the kept lines, then refresh as usual."""
        self._rendered = None
        return super().refresh(*regions, **kwargs)

    def notify_style_update(self) -> None:
        """Styles changed: the kept lines are out of date."""
        self._rendered = None
        super().notify_style_update()

    def _set_dirty(self, *regions: Region) -> None:
        self._rendered = None
        super()._set_dirty(*regions)

    def render_lines(self, crop: Region) -> list[Strip]:
        """The lines kept for ``crop`` when nothing changed since, else rendered anew."""
        kept = self._rendered
        if kept is not None and kept[0] == crop:
            return kept[1]
        lines = super().render_lines(crop)
        self._rendered = (crop, lines)
        return lines


class QuietStatic(CachedLines, Static):
    """A :class:`~textual.widgets.Static` that keeps its rendered lines (:class:`CachedLines`)."""


class CachedStyles(CachedLines):
    """Component and base styles resolved once, until the styles really change.

    Textual clears its own component-style cache on every ``refresh()``, and resolving a
    style walks the DOM (tens of µs); a Line API widget repainted 30 times a second asks
    for the same few styles thousands of times. This cache lives until Textual reports a
    style update for the widget (class, CSS or theme change) or the theme changes.

    Component colours are resolved as Textual paints a widget's own: a colour with alpha
    (``$foreground-muted``, ``$success 45%``) is blended over the background under it, which
    Textual's partial component styles leave out (they drop the alpha: a muted label came
    out at full strength). ``auto`` is the text colour that contrasts with that background,
    black or white at full strength, as Textual's partial styles give it.
    """

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._resolved_styles: dict[str, Style] = {}
        self._span_styles: dict[str, Style] = {}
        self._base_style: Style | None = None
        self._styles_theme = ""

    def notify_style_update(self) -> None:
        """Styles changed: resolve them again on next use."""
        super().notify_style_update()
        self.forget_styles()

    def forget_styles(self) -> None:
        """Drop cached styles (subclasses drop what they derived from them too)."""
        self._resolved_styles = {}
        self._span_styles = {}
        self._base_style = None

    def _check_theme(self) -> None:
        theme = self.app.theme
        if theme != self._styles_theme:
            self._styles_theme = theme
            self.forget_styles()

    def base_style(self) -> Style:
        """The widget's own rich style (colours and background as the CSS says)."""
        self._check_theme()
        style = self._base_style
        if style is None:
            style = self._base_style = self.rich_style
        return style

    def component_style(self, name: str) -> Style:
        """A component class's partial rich style (colours blended as the class docstring
        says)."""
        self._check_theme()
        style = self._resolved_styles.get(name)
        if style is None:
            style = self._resolved_styles[name] = self._resolve_component(name)
        return style

    def _resolve_component(self, name: str) -> Style:
        styles = self.get_component_styles(name)
        background = self.background_colors[1]
        bgcolor = None
        if styles.has_rule("background") and styles.background.a > 0:
            background = background + styles.background
            bgcolor = background.rich_color
        color = None
        if styles.auto_color:  # ``color: auto`` sets this rule, not ``color``
            color = background.get_contrast_text(1.0).rich_color
        elif styles.has_rule("color") and styles.color.a > 0:
            color = (background + styles.color).rich_color
        return Style(color=color, bgcolor=bgcolor) + styles.text_style

    def styled(self, text: Text) -> Text:
        """A copy of ``text`` whose spans that name component classes have those classes'
        styles.

        A span's style may be one class (``"badge--good"``) or words mixing classes and
        Rich attributes (``"bold text--warn"``); a :class:`Style` is left as it is. Text
        built this way names roles, not colours, and is recoloured by every theme.
        """
        styled = text.copy()
        styled.spans = [
            Span(span.start, span.end, self._span_style(span.style))
            if isinstance(span.style, str)
            else span
            for span in text.spans
        ]
        return styled

    def _span_style(self, words: str) -> Style:
        style = self._span_styles.get(words)
        if style is None:
            classes = self._get_component_classes()
            style = Style.combine(
                self.component_style(word) if word in classes else Style.parse(word)
                for word in words.split()
            )
            self._span_styles[words] = style
        return style

    @staticmethod
    def line(segments: list[Segment], width: int, fill: Style) -> Strip:
        """One line of a Line API widget: ``segments`` cut or padded with ``fill`` to ``width``."""
        return Strip(segments).crop_extend(0, width, fill)


class StyledStatic(CachedStyles, Static):
    """A :class:`~textual.widgets.Static` that shows Rich text naming palette classes.

    The text's spans name the classes of :mod:`widgets.palette` (states, warnings,
    labels); they are resolved when the widget paints, so a theme change recolours it
    without new text. :meth:`show_text` repaints only when the text really changed.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = set(PALETTE_CLASSES)

    _source: Text | None = None
    _painted: Text | None = None

    def show_text(self, text: Text) -> None:
        """Show ``text`` unless it is what is shown; relayout only if its line count changed."""
        last = self._source
        if last is not None and text == last:
            return
        relayout = last is None or text.plain.count("\n") != last.plain.count("\n")
        self._source = text
        self._painted = None
        self.refresh(layout=relayout)

    def forget_styles(self) -> None:
        """Styles changed: the text is resolved again when next painted."""
        super().forget_styles()
        self._painted = None

    def render(self) -> Text:
        """The text with its classes resolved for the current theme."""
        painted = self._painted
        if painted is None:
            painted = self.styled(self._source or Text())
            self._painted = painted
        return painted
