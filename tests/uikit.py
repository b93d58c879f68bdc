"""Keys for UI tests against a live feed, without waiting for the app to look idle.

``Pilot.press`` waits after every key until the event loop has been idle a moment; with
the simulator sending frames every few milliseconds in the same loop it never is, so each
key waited out the timeout (pressing ``s`` took about 2 s, typing a market and Enter about
17 s). Here keys are sent in order like a terminal's and the test then waits on the
condition each key causes (:func:`tests.feedkit.until`), which is also what the test means.
"""

from __future__ import annotations

from textual import events
from textual.app import App


def press(app: App[None], *keys: str) -> None:
    """Send ``keys`` to ``app`` in order, as key events with their characters."""
    for key in keys:
        character = key if len(key) == 1 else None
        app.post_message(events.Key(_name(key), character))


def _name(key: str) -> str:
    """Textual's name for a key given as a character (``?`` -> ``question_mark``)."""
    if len(key) == 1 and not key.isalnum():
        from textual.keys import _character_to_key

        return _character_to_key(key)
    return key
