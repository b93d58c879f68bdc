"""AlertDialog: make an alert rule, by default on the current market.

The kind is chosen first (a select); the form then asks only what that kind needs
(:data:`app.alerts.FORM_FIELDS`): a price rule its field, direction and level, a spread rule
its basis points, and so on. Enter in a field (or Add) checks the form the way the config's
``[[alerts]]`` are checked (:func:`app.alerts.rule_from_form`): a value that cannot be used
keeps the dialog open with the reason; a good one closes it with the rule, which the
dashboard adds to its engine. Escape cancels.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from app.alerts import FORM_FIELDS, AlertRule, rule_from_form
from styles import STYLES_DIR

KINDS: tuple[tuple[str, str], ...] = (
    ("price reaches a level", "price"),
    ("spread above N bps", "spread"),
    ("book not live for N s", "stale"),
    ("trade of a size or more", "trade"),
    ("depth imbalance beyond a ratio", "imbalance"),
    ("feed disconnected for N s", "disconnected"),
)
"""(what the select says, the rule kind)."""
KIND_HINTS: dict[str, str] = {
    "price": "fires when the price gets to the level (above: going up, below: going down, "
    "crosses: either way); re-armed once 5 bps back past it",
    "spread": "fires when the spread reaches N bps of the mid; re-armed a fifth below; "
    "market * watches every market",
    "stale": "fires when a subscribed book is not LIVE for N seconds; * for every market",
    "trade": "fires on each trade of at least this size, in base units",
    "imbalance": "fires when (bids - asks) / (bids + asks) within the band of the mid reaches "
    "the ratio (the header's bar); * for every market",
    "disconnected": "fires when the connection is not up for N seconds",
}
"""A line under the form saying when the chosen kind fires and re-arms."""
CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "field": (("bid", "bid"), ("ask", "ask"), ("mid", "mid"), ("last trade", "last")),
    "way": (("above (going up)", "above"), ("below (going down)", "below"), ("crosses", "crosses")),
    "side": (("either side", "either"), ("bids heavy", "bid"), ("asks heavy", "ask")),
}
"""The fields chosen from a list: (what the select says, the value)."""
LABELS: dict[str, str] = {
    "market": "Market",
    "field": "Price",
    "way": "When",
    "level": "Level",
    "above_bps": "Spread bps",
    "seconds": "Seconds",
    "size": "Size",
    "beyond": "Ratio",
    "side": "Side",
    "band_bps": "Band bps",
}
PLACEHOLDERS: dict[str, str] = {
    "market": "e.g. BTCUSD, or * (spread, stale, imbalance)",
    "level": "e.g. 65000",
    "above_bps": "e.g. 5",
    "seconds": "e.g. 10",
    "size": "e.g. 5",
    "beyond": "0 to 1, e.g. 0.6",
    "band_bps": "10",
}
ALL_FIELDS: tuple[str, ...] = tuple(LABELS)


class AlertDialog(ModalScreen[AlertRule | None]):
    """A modal form for one alert rule; dismissed with the rule, or None."""

    CSS_PATH = STYLES_DIR / "alerts.tcss"
    AUTO_FOCUS = "#alert-kind"
    """The form starts on the kind (at once: a focus asked for later could land after a
    first key)."""
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="alert-cancel"),
    ]

    def __init__(self, market: str = "", prices: str = "") -> None:
        super().__init__()
        self.market = market
        """The market the form starts with (the current one)."""
        self.prices = prices
        """The market's prices now, for the level's hint ("" when none are known)."""

    def compose(self) -> ComposeResult:
        """Title, the kind, every kind's fields (those of the chosen kind shown), a hint,
        an error line and buttons."""
        with Vertical(id="alert-dialog"):
            title = f"New alert on {self.market}" if self.market else "New alert"
            yield Label(title, id="alert-title")
            with Horizontal(classes="alert-row", id="alert-row-kind"):
                yield Label("Kind")
                yield Select[str](
                    KINDS, value="price", allow_blank=False, compact=True, id="alert-kind"
                )
            for key in ALL_FIELDS:
                with Horizontal(classes="alert-row", id=f"alert-row-{key}"):
                    yield Label(LABELS[key])
                    if key in CHOICES:
                        options = CHOICES[key]
                        yield Select[str](
                            options,
                            value=options[0][1],
                            allow_blank=False,
                            compact=True,
                            id=f"alert-{key}",
                        )
                    else:
                        value = self.market if key == "market" else ""
                        placeholder = PLACEHOLDERS.get(key, "")
                        if key == "level" and self.prices:
                            placeholder = f"now {self.prices}"
                        yield Input(value, placeholder=placeholder, compact=True, id=f"alert-{key}")
            yield Label("", id="alert-hint")
            yield Label("", id="alert-error")
            with Horizontal(id="alert-buttons"):
                yield Button("Add", variant="primary", id="alert-ok")
                yield Button("Cancel", id="alert-cancel")

    def on_mount(self) -> None:
        """Show the chosen kind's fields."""
        self._show_kind()

    @property
    def kind(self) -> str:
        """The kind chosen."""
        return str(self.query_one("#alert-kind", Select).value)

    def _show_kind(self) -> None:
        kind = self.kind
        wanted = FORM_FIELDS.get(kind, ())
        for key in ALL_FIELDS:
            self.query_one(f"#alert-row-{key}").display = key in wanted
        self.query_one("#alert-hint", Label).update(KIND_HINTS.get(kind, ""))

    def fields(self) -> dict[str, str]:
        """The chosen kind's fields as typed (selects as their values)."""
        values: dict[str, str] = {}
        for key in FORM_FIELDS.get(self.kind, ()):
            widget = self.query_one(f"#alert-{key}")
            if isinstance(widget, Input):
                values[key] = widget.value
            elif isinstance(widget, Select):
                values[key] = str(widget.value)
        return values

    def action_confirm(self) -> None:
        """Check the form: close with the rule, or stay open saying what to change."""
        try:
            rule = rule_from_form(self.kind, self.fields())
        except ValueError as exc:
            self.query_one("#alert-error", Label).update(str(exc))
            return
        self.dismiss(rule)

    def action_cancel(self) -> None:
        """Escape: close, nothing made."""
        self.dismiss(None)

    @on(Select.Changed, "#alert-kind")
    def _kind_chosen(self) -> None:
        self._show_kind()
        self._clear_error()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#alert-ok")
    def _ok(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#alert-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Changed)
    def _clear_error(self) -> None:
        self.query_one("#alert-error", Label).update("")
