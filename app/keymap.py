"""The config's ``[keys]`` table, checked before the dashboard starts.

``[keys]`` maps a command id (:mod:`app.commands`) to one key or several, comma separated,
as Textual names them (``ctrl+n``, ``f5``, ``question_mark`` or ``?``). A keymap that would
leave a command without its key, name a command that does not exist or a key no terminal
sends is refused with a message naming the entry and what to do, as the rest of the config
is: ``subscribe = "q"`` left nothing to quit but ctrl+q, an unknown id did nothing at all,
and an unparseable key showed ``shift+^🍌`` in the help.

This is the screen's side (it knows Textual's key names), used by ``sordash`` before the
app is built; the headless core never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from textual.keys import Keys, _character_to_key, format_key, key_to_character

from app.commands import COMMAND_BY_ID, COMMANDS
from app.config import ConfigError

MODIFIERS: Final = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
RESERVED: Final = {"ctrl+q": "quit (Textual's)", "ctrl+p": "the command palette", "ctrl+c": "copy"}
"""Keys the app itself binds: a command mapped to one of these would never see it."""
_NAMED: Final = frozenset(key.value.rpartition("+")[2] for key in Keys) | frozenset(
    _character_to_key(chr(code)) for code in range(33, 127)
)
"""Key names Textual sends: its named keys, and the names of printable ASCII characters
(``plus``, ``question_mark``, ``full_stop``)."""


def normalize(key: str) -> str:
    """A key in Textual's long form (``?`` -> ``question_mark``), for comparing."""
    key = key.strip()
    return _character_to_key(key) if len(key) == 1 else key


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a key a terminal can send (None: it is one)."""
    key = key.strip()
    if not key:
        return "an empty key"
    *modifiers, base = key.split("+") if len(key) > 1 else [key]
    unknown = [m for m in modifiers if m not in MODIFIERS]
    if unknown:
        return f"unknown modifier {unknown[0]!r} (use {', '.join(sorted(MODIFIERS))})"
    if len(base) == 1:
        if base.isascii() and base.isprintable() and base != " ":
            return None
        return f"{base!r} is not a key on a keyboard"
    character = key_to_character(base)
    if base in _NAMED or (character is not None and character.isascii()):
        return None
    return f"{base!r} is not a key name Textual knows (e.g. f5, escape, question_mark, ctrl+n)"


def check_keymap(keymap: Mapping[str, str], where: str = "the config file") -> None:
    """Raise :class:`ConfigError` for the first unknown id, unknown key or conflict.

    A conflict is a key two commands would share once the keymap is applied (a command
    not remapped keeps its default keys), or a key the app itself binds.
    """
    for binding_id, keys in keymap.items():
        if binding_id not in COMMAND_BY_ID:
            known = ", ".join(c.id for c in COMMANDS)
            raise ConfigError(
                f"{where}: [keys] {binding_id!r} is not a command; use one of {known}"
            )
        for key in keys.split(","):
            problem = key_problem(key)
            if problem is not None:
                raise ConfigError(f"{where}: [keys] {binding_id} = {keys!r}: {problem}")
    owner: dict[str, str] = {}
    for command in COMMANDS:
        for key in keymap.get(command.id, command.keys).split(","):
            name = normalize(key)
            if name in RESERVED:
                raise ConfigError(
                    f"{where}: [keys] {command.id} = {key.strip()!r}: that key is "
                    f"{RESERVED[name]}; choose another"
                )
            other = owner.get(name)
            if other is not None:
                remapped = command.id if command.id in keymap else other
                raise ConfigError(
                    f"{where}: [keys] {remapped}: the key {display(key)} would serve both "
                    f"{other} and {command.id}; remap the other one too, or choose another key"
                )
            owner[name] = command.id


def display(keys: str) -> str:
    """Keys as a person reads them: ``question_mark`` -> ``?``, ``ctrl+n`` as it is."""
    return ",".join(format_key(normalize(key)) for key in keys.split(","))
