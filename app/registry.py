"""MarketRegistry: one object per market, created on first use, and the markets changed since
the screen last looked. The book store and the tape store are both one of these."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class MarketRegistry(Generic[T]):
    """Per-market objects and a ``dirty`` set the feed fills and the screen takes."""

    def __init__(self) -> None:
        self.items: dict[str, T] = {}
        """Market -> its object."""
        self.dirty: set[str] = set()
        """Markets changed since the reader last took this set."""

    def __contains__(self, market: object) -> bool:
        return market in self.items

    def _create(self, market: str) -> T:
        """A new object for ``market`` (each registry says how)."""
        raise NotImplementedError

    def get(self, market: str) -> T | None:
        """The object for ``market``, if there is one."""
        return self.items.get(market)

    def obtain(self, market: str) -> T:
        """The object for ``market``, created on first use."""
        item = self.items.get(market)
        if item is None:
            item = self.items[market] = self._create(market)
        return item

    def remove(self, market: str) -> None:
        """Forget a market entirely (its view is gone); marks it changed."""
        if self.items.pop(market, None) is not None:
            self.dirty.add(market)

    def take_dirty(self) -> set[str]:
        """The markets changed since the last call, clearing the set."""
        dirty, self.dirty = self.dirty, set()
        return dirty
