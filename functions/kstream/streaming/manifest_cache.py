"""Manifests the stream function has read lately, kept in the process by (object, catalogue version).

Every viewer's master and media playlists are the same stored objects; reading one from Cloud Storage is a request
(~1-2 ms of CPU and a round trip) on every play. The stream function reads the video's catalogue document first on
every request anyway (who may watch it), and the pipeline writes a video's manifests *before* the document change
that makes them servable (``ready``, a new rendition set, a re-transcode): so ``updatedAt`` of the document names
the manifests' version, and an entry keyed by it can never be older than the document that let the request through.
A changed document misses the cache and reads again; entries also expire after ``ttl_seconds`` (the answers' own
``max-age``) and the least recently used go first beyond ``max_characters``.

Nothing is cached for a document without ``updatedAt``, and missing objects are never cached (a manifest that
appears later is found at once).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["ManifestCache"]

DEFAULT_TTL_SECONDS = 60.0
DEFAULT_MAX_CHARACTERS = 16 * 1024 * 1024  # manifests are ASCII: ~16 MiB


class ManifestCache:
    """A thread-safe LRU, bounded in characters, of manifest texts with a time-to-live."""

    def __init__(self, *, ttl_seconds: float = DEFAULT_TTL_SECONDS, max_characters: int = DEFAULT_MAX_CHARACTERS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.max_characters = max_characters
        self.clock = clock
        self.size = 0
        self._entries: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str, version: str) -> str | None:
        """The text stored for ``name`` at ``version``, if read within the time-to-live."""
        key = (name, version)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, text = entry
            if self.clock() - stored_at > self.ttl:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return text

    def put(self, name: str, version: str, text: str) -> None:
        cost = len(text)
        if cost > self.max_characters:
            return
        key = (name, version)
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (self.clock(), text)
            self.size += cost
            while self.size > self.max_characters:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple[str, str]) -> None:
        _, text = self._entries.pop(key)
        self.size -= len(text)

    def __len__(self) -> int:
        return len(self._entries)
