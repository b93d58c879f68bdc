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
from textual._border import get_box
from textual.geometry import Region
from textual.strip import Strip
from textual.style import Style as TextualStyle
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
    _finished_for: tuple[object, ...] = ()
    _finished: dict[int, tuple[Strip, Strip]]

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

    DIRECT: ClassVar[bool] = False
    """Lines are whole already (every cell styled, the widget's width): when the widget
    has no border, padding, outline, tint or opacity, they go to the screen as they are,
    through the app's line filters, not through Textual's per-line styling pass. That
    pass cost about 50 µs a changed line, most of a repaint's cost for a ladder whose lines
    are built from cached styles."""

    def render_lines(self, crop: Region) -> list[Strip]:
        """The lines kept for ``crop`` when nothing changed since, else rendered anew."""
        kept = self._rendered
        if kept is not None and kept[0] == crop:
            return kept[1]
        if self.DIRECT and _plain_box(self):
            lines = self._direct_lines(crop)
        else:
            lines = super().render_lines(crop)
        self._rendered = (crop, lines)
        return lines

    def _direct_lines(self, crop: Region) -> list[Strip]:
        """``render_line`` for each line of ``crop``, padded, filtered and cropped as
        Textual's styling pass does it for a widget without border or vertical padding."""
        width = self.region.width
        filters = self.get_line_filters()
        styles = self.styles
        base_background, background = self.background_colors
        inner_style = TextualStyle(background=base_background + background)
        outer_style = TextualStyle(background=base_background)
        inner = inner_style.rich_style
        _, right, _, left = styles.padding
        pad_left = [Segment(" " * left, inner)] if left else []
        pad_right = [Segment(" " * right, inner)] if right else []
        # A left or right border (the tape's rule), drawn as Textual's styling pass draws it.
        _, (border_right, right_color), _, (border_left, left_color) = styles.border
        if border_left:
            edge = TextualStyle(foreground=base_background + left_color)
            pad_left.insert(0, get_box(border_left, inner_style, outer_style, edge)[1][0])
        if border_right:
            edge = TextualStyle(foreground=base_background + right_color)
            pad_right.append(get_box(border_right, inner_style, outer_style, edge)[1][2])
        content_width = width - left - right - bool(border_left) - bool(border_right)
        render_line = self.render_line
        # Each finished line is kept with the line it was made from: a line shown before
        # (unchanged, or moved to another row, as the tape's rows move down) is not padded
        # and filtered again (a new strip would be). Only the lines now shown are kept.
        key = (width, inner, tuple(pad_left), tuple(pad_right), tuple(filters), background)
        if key != self._finished_for:
            self._finished_for, self._finished = key, {}
        finished = self._finished
        if crop.height == self.region.height:
            self._finished = kept_now = {}
        else:
            kept_now = finished
        lines: list[Strip] = []
        for y in crop.line_range:
            source = render_line(y)
            kept = finished.get(id(source))
            if kept is not None and kept[0] is source:
                kept_now[id(source)] = kept
                lines.append(kept[1])
                continue
            strip = source
            if strip.cell_length != content_width:
                strip = strip.adjust_cell_length(content_width, inner)
            if pad_left or pad_right:
                strip = Strip([*pad_left, *strip, *pad_right], width)
            for line_filter in filters:
                strip = strip.apply_filter(line_filter, background)
            kept_now[id(source)] = (source, strip)
            lines.append(strip)
        x1, x2 = crop.column_span
        if (x1, x2) != (0, width):
            lines = [strip.crop(x1, x2) for strip in lines]
        return lines


def _plain_box(widget: Widget) -> bool:
    """No top or bottom border or padding, no outline, tint, hatch or opacity: each line is
    the content's line, padded and edged left and right."""
    styles = widget.styles
    top, _, bottom, _ = styles.padding
    (border_top, _), _, (border_bottom, _), _ = styles.border
    return (
        not border_top
        and not border_bottom
        and not any(edge for edge, _ in styles.outline)
        and not top
        and not bottom
        and not styles.tint.a
        and styles.opacity == 1.0
        and styles.text_opacity == 1.0
        and not styles.has_rule("hatch")
        and widget.opacity == 1.0
    )


class CachedContainer(CachedLines):
    """A container (a border, a background under its children) that keeps its lines: a
    child's repaint does not change them, yet Textual asks every container under a screen
    update's bounding box for its lines again (its background, border, filters and crops
    worked out anew), four markets' containers on every update."""


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
