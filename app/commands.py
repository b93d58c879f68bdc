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
    Command("freeze", "p", "freeze", "Freeze / resume the display", footer="Freeze"),
    Command("layout", "l", "toggle_layout", "One market / grid", footer="Layout"),
    Command(
        "record",
        "ctrl+r",
        "record",
        "Record the session to a new file / stop",
        show=False,
        footer="Record",
    ),
    *(
        Command(f"market-{n}", str(n), f"select_market({n})", f"Go to market {n}", show=False)
        for n in range(1, 10)
    ),
)
COMMAND_BY_ID: dict[str, Command] = {c.id: c for c in COMMANDS}
