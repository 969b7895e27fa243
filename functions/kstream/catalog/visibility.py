"""Who sees which video: the statuses a video passes through and the caller as visibility sees them.

Viewers see ``ready`` videos; an uploader also sees their own videos in any status; admins (and service
identities) see all. Get, search, series and streaming all decide with :class:`Viewer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .repository import F_STATUS, F_UPLOADER

if TYPE_CHECKING:
    from ..auth import Principal

__all__ = ["FAILED", "IN_PROGRESS", "PLAYABLE", "PLAYING", "PROCESSING", "READY", "STATUSES", "Viewer"]

PROCESSING, READY, FAILED = "processing", "ready", "failed"
PLAYABLE = "playable"  # a premiere: the opening parts play while the rest is transcoded (transcode/premiere.py)
STATUSES = (PROCESSING, READY, FAILED)
"""The statuses search filters on (an admin's search lists these: ``playable`` lasts minutes, and a fourth value
would take the tag search past Firestore's 30 disjunctions; a playable video is read by id and streamed)."""
PLAYING = (PLAYABLE, READY)
"""The statuses everyone sees and streams."""
IN_PROGRESS = [PROCESSING, FAILED]
"""The statuses only a video's uploader (and admins) see."""


@dataclass(frozen=True)
class Viewer:
    """The caller as visibility sees it: ``viewer`` (ready videos), ``uploader`` (+ own), ``admin`` (all)."""

    id: str
    scope: Literal["viewer", "uploader", "admin"]

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        if principal.kind == "service" or principal.is_admin:
            return cls(principal.id, "admin")
        if principal.can("videos:upload"):
            return cls(principal.id, "uploader")
        return cls(principal.id, "viewer")

    def can_see(self, doc: Mapping[str, Any]) -> bool:
        if self.scope == "admin" or doc.get(F_STATUS, READY) in PLAYING:
            return True
        return self.scope == "uploader" and doc.get(F_UPLOADER) == self.id

    def manages(self, doc: Mapping[str, Any]) -> bool:
        """Whether the viewer may change the video and see what only its owner sees (failure reason, pending
        subtitle tracks): its uploader, admins and service identities."""
        return self.scope == "admin" or (self.scope == "uploader" and doc.get(F_UPLOADER) == self.id)
