"""LeanCompositor: Textual's partial screen update, asking only the widgets it needs.

Textual's partial update takes the bounding box of everything that changed and asks every
widget under it for its lines; on each line with a change it cuts every widget's line into
chops, then writes to the terminal only the chops that overlap a changed span. With four
markets changing in four corners the box is most of the screen, and every container under
the ladders (a market's body, its view, the grid, the screen, the footer) renders its lines
only to have them hidden by the widgets in front: about half of a one-line update's cost
(issue 10; ``benchmarks/bench_repaint.py``).

This compositor writes exactly the same chops for the same spans. It walks the widgets
front to back as Textual does, and asks a widget for lines only when, on a changed line, a
chop that the terminal will receive and that no widget in front already filled lies in it;
it asks for those lines alone. A widget wholly behind others, or beside the change, is not
asked. Full updates (a layout, a resize) are Textual's own.
"""

from __future__ import annotations

from itertools import pairwise

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip


class LeanCompositor(Compositor):
    """A :class:`~textual._compositor.Compositor` whose partial update renders only the
    chops the changed spans need (see the module docstring)."""

    def render_partial_update(self) -> ChopsUpdate | None:
        """The changed spans' chops, each from the frontmost widget that covers it."""
        update_regions = self._dirty_regions.copy()
        self._dirty_regions.clear()
        if not update_regions:
            return None
        spans = list(self._regions_to_spans(update_regions))
        cuts = self.cuts
        # Per changed line, the chops (by their first cell) the update writes: as
        # ``ChopsUpdate`` skips a chop when ``x > x2 or end <= x1``, it writes the others.
        needed: dict[int, set[int]] = {}
        for y, x1, x2 in spans:
            line_cuts = cuts[y]
            wanted = needed.setdefault(y, set())
            wanted.update(cut for cut, end in pairwise(line_cuts) if cut <= x2 and end > x1)
        chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
        for widget, (region, clip) in self.visible_widgets.items():
            if not needed:
                break
            x, top, width, height = region.intersection(clip)
            if not width or not height:
                continue
            right = x + width
            # Cuts include every visible widget's edges: a chop is inside this widget
            # exactly when its first cell is.
            rows = [
                y
                for y in range(top, top + height)
                if (on_line := needed.get(y)) and any(x <= cut < right for cut in on_line)
            ]
            if not rows:
                continue
            first = rows[0]
            strips = widget.render_lines(
                Region(x - region.x, first - region.y, width, rows[-1] + 1 - first)
            )
            for y in rows:
                chops_line = chops[y]
                final_cuts = [cut for cut in cuts[y] if right >= cut >= x]
                pieces = strips[y - first].divide([cut - x for cut in final_cuts[1:]])
                wanted = needed[y]
                for cut, piece in zip(final_cuts, pieces, strict=False):
                    if chops_line.get(cut) is None:  # front to back: the first one wins
                        chops_line[cut] = piece
                        wanted.discard(cut)
                if not wanted:
                    del needed[y]
        chop_ends = [cut_set[1:] for cut_set in cuts]
        return ChopsUpdate(chops, spans, chop_ends)
