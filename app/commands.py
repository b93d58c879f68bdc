"""The dashboard's commands as data: id, default key, action, and how they are described.

Headless (no Textual), so that the config can be checked against them before a screen
exists: the keymap's binding ids are these ids (``[keys]`` in the config file).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One user action: its binding, its palette entry and its help line."""

    id: str
    keys: str
    action: str
    description: str
    show: bool = True
    key_display: str | None = None
    footer: str = ""
    """A short label for the footer (the description is used in help and the palette)."""


COMMANDS: tuple[Command, ...] = (
    Command("subscribe", "s", "subscribe", "Subscribe to a market", footer="Subscribe"),
    Command("help", "question_mark", "help", "Help: every key", key_display="?", footer="Help"),
    Command("quit", "q", "quit", "Quit", footer="Quit"),
    Command("unsubscribe", "u", "unsubscribe", "Unsubscribe the current market", footer="Unsub"),
    Command("resync", "r", "resync", "Resync the current market (fresh snapshot)", footer="Resync"),
    Command("reconnect", "R", "reconnect", "Reconnect now", key_display="R", footer="Reconnect"),
    Command("next-market", "tab", "next_market", "Next market", show=False),
    Command("previous-market", "shift+tab", "previous_market", "Previous market", show=False),
    Command("depth-more", "plus", "depth(1)", "More depth", show=False, key_display="+"),
    Command("depth-less", "minus", "depth(-1)", "Less depth", show=False, key_display="-"),
    Command("group", "g", "group", "Group prices (tick multiples)", footer="Group"),
    Command("fill-size-next", "z", "next_fill_size", "Cost to fill: next size", footer="Size"),
    Command("fill-size-set", "Z", "set_fill_size", "Cost to fill: any size…", show=False),
    # The ladder's columns and mode, for every market's ladder, and re-centring the current
    # one (help and the palette; the footer has no room for them at 80 columns).
    Command(
        "ladder-notional", "n", "ladder_column('notional')", "Ladder: notional column", show=False
    ),
    Command(
        "ladder-volume",
        "v",
        "ladder_column('volume')",
        "Ladder: volume traded at each price (by inferred side)",
        show=False,
    ),
    Command(
        "ladder-cumulative",
        "C",
        "ladder_column('cumulative')",
        "Ladder: cumulative amount column",
        show=False,
        key_display="C",
    ),
    Command(
        "ladder-fixed",
        "f",
        "ladder_mode",
        "Ladder: fixed-tick price axis / list of levels",
        show=False,
    ),
    Command(
        "ladder-recentre",
        "c",
        "ladder_recentre",
        "Ladder: re-centre the fixed-tick ladder on the touch",
        show=False,
    ),
    Command("freeze", "p", "freeze", "Freeze / resume the display", footer="Freeze"),
    Command("layout", "l", "toggle_layout", "One market / grid", footer="Layout"),
    # Every known market in a row each (issue 14); its own keys are named in its title.
    Command(
        "watchlist",
        "w",
        "toggle_watchlist",
        "Watchlist of every market / back to the ladders",
        show=False,
        footer="Watchlist",
    ),
    Command(
        "watchlist-sort", "o", "watchlist_sort", "Watchlist: sort by the next column", show=False
    ),
    Command(
        "watchlist-reverse", "O", "watchlist_reverse", "Watchlist: reverse the order", show=False
    ),
    Command(
        "watchlist-open",
        "enter",
        "watchlist_open",
        "Watchlist: open the highlighted market's ladder",
        show=False,
        key_display="enter",
    ),
    Command(
        "page-next",
        "pagedown",
        "page(1)",
        "Grid: next page of markets",
        show=False,
        key_display="PgDn",
    ),
    Command(
        "page-previous",
        "pageup",
        "page(-1)",
        "Grid: previous page of markets",
        show=False,
        key_display="PgUp",
    ),
    # The current market's tape: focused, it scrolls back (its own keys, in the footer then).
    Command(
        "tape-focus", "e", "focus_tape", "Tape: scroll back (focus it)", show=False, footer="Tape"
    ),
    Command(
        "tape-min-size",
        "m",
        "tape_min_size",
        "Tape: show only trades of a minimum size",
        show=False,
        footer="Min size",
    ),
    Command(
        "tape-aggregate",
        "x",
        "tape_aggregate",
        "Tape: aggregate prints / show each",
        show=False,
        footer="Aggregate",
    ),
    Command(
        "record",
        "ctrl+r",
        "record",
        "Record the session to a new file / stop",
        show=False,
        footer="Record",
    ),
    Command("alert-new", "a", "new_alert", "New alert on the current market…", show=False),
    Command(
        "alerts", "A", "alerts", "Alerts: list, mute, re-arm, delete", show=False, key_display="A"
    ),
    *(
        Command(f"market-{n}", str(n), f"select_market({n})", f"Go to market {n}", show=False)
        for n in range(1, 10)
    ),
    # The replay transport (sordash --replay FILE); in a live session each says so. Not in
    # the footer: the replay bar names its keys.
    Command("replay-play", "space", "replay_toggle", "Replay: play / pause", show=False),
    Command(
        "replay-slower",
        "left_square_bracket",
        "replay_slower",
        "Replay: slower",
        show=False,
        key_display="[",
    ),
    Command(
        "replay-faster",
        "right_square_bracket",
        "replay_faster",
        "Replay: faster (to 64x, then as fast as possible)",
        show=False,
        key_display="]",
    ),
    Command(
        "replay-step",
        "full_stop",
        "replay_step_frame",
        "Replay: step one frame",
        show=False,
        key_display=".",
    ),
    Command(
        "replay-step-second",
        "greater_than_sign",
        "replay_step_second",
        "Replay: step one second",
        show=False,
        key_display=">",
    ),
    Command(
        "replay-back", "left", "replay_seek(-10)", "Replay: back 10 s", show=False, key_display="←"
    ),
    Command(
        "replay-forward", "right", "replay_seek(10)", "Replay: on 10 s", show=False, key_display="→"
    ),
    Command(
        "replay-back-minute",
        "shift+left",
        "replay_seek(-60)",
        "Replay: back 1 min",
        show=False,
        key_display="shift+←",
    ),
    Command(
        "replay-forward-minute",
        "shift+right",
        "replay_seek(60)",
        "Replay: on 1 min",
        show=False,
        key_display="shift+→",
    ),
    Command("replay-start", "home", "replay_start", "Replay: go to the start", show=False),
    Command("replay-end", "end", "replay_end", "Replay: go to the end", show=False),
    Command("replay-goto", "t", "replay_goto", "Replay: go to a time (UTC)", show=False),
)
COMMAND_BY_ID: dict[str, Command] = {c.id: c for c in COMMANDS}
