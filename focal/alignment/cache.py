"""`ConfigCache`: a bounded LRU of what is derived from one configuration version, by (tenant, agent, version).

Versions are content hashes and never change, so an entry never goes stale; it is only evicted, least
recently used first, when the cache is full. Reads take no lock (a dict read); a read refreshes the
entry's recency only when the cache is more than half full, so small caches stay lock-free to read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["ConfigCache"]

V = TypeVar("V")
Key = tuple[str, str, str]


class ConfigCache(Generic[V]):
    """At most `max_entries` values keyed by (tenant_id, agent_id, version); thread-safe.

    Args:
        max_entries: how many versions to keep (at least 1).

    Raises:
        ValueError: `max_entries` is below 1.
    """

    def __init__(self, max_entries: int = 512) -> None:
        if max_entries < 1:
            raise ValueError("a ConfigCache keeps at least one entry")
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, tenant_id: str, agent_id: str, version: str) -> V | None:
        """The value kept for this version, or None."""
        key = (tenant_id, agent_id, version)
        value = self._entries.get(key)
        if value is not None and len(self._entries) > self.max_entries // 2:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
        return value

    def put(self, tenant_id: str, agent_id: str, version: str, value: V) -> None:
        """Keep `value` for this version, evicting the least recently used entries beyond `max_entries`."""
        with self._lock:
            self._entries[(tenant_id, agent_id, version)] = value
            self._entries.move_to_end((tenant_id, agent_id, version))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def discard(self, tenant_id: str | None = None) -> None:
        """Forget every entry (of one tenant, or all)."""
        with self._lock:
            for key in [k for k in self._entries if tenant_id is None or k[0] == tenant_id]:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
