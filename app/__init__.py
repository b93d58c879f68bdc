"""sordash core: protocol, auth, feed, book store, tape, simulator, recording and config.

Nothing under ``app`` except ``app.dashboard`` (and the screenshot script) imports Textual,
so the same pipeline serves the dashboard, ``sordash stream`` and the tests.
"""

__version__ = "0.1.0"
