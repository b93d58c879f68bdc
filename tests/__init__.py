"""Tests for sordash."""
