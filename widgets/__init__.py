"""Textual widgets of the sordash dashboard, one per module, named after the widget."""
