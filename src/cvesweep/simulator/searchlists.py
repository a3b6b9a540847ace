"""The subscription's dynamic QID search lists: create with unique titles, list, delete.

Thread-safe; the QIDs of a list are resolved from the knowledge base when it is created
(the simulated knowledge base never changes, so a dynamic list's QIDs never change either).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

FIRST_ID = 3_034_713  # list ids look like real ones (searchlist_create_success_*.xml)
MAX_TITLE = 256


@dataclass(frozen=True, slots=True)
class SearchList:
    """One dynamic search list; ``qids`` are sorted and unique."""

    id: int
    title: str
    is_global: bool
    owner: str
    created: datetime
    cve_ids: tuple[str, ...]
    qids: tuple[int, ...]

    def as_json(self) -> dict[str, Any]:
        """Return the list as JSON-ready data for ``/_sim/state``."""
        return {
            "id": self.id,
            "title": self.title,
            "global": self.is_global,
            "cve_ids": list(self.cve_ids),
            "qids": list(self.qids),
        }


class DuplicateTitle(Exception):
    """A search list with this title already exists in the subscription."""


class SearchListStore:
    """Open search lists by id, with titles unique in the subscription."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lists: dict[int, SearchList] = {}
        self._next_id = FIRST_ID

    def create(
        self,
        *,
        title: str,
        is_global: bool,
        owner: str,
        created: datetime,
        cve_ids: tuple[str, ...],
        qids: Iterable[int],
    ) -> SearchList:
        """Store and return a new list; raise DuplicateTitle when the title is taken."""
        with self._lock:
            if any(one.title == title for one in self._lists.values()):
                raise DuplicateTitle(title)
            new = SearchList(
                self._next_id, title, is_global, owner, created, cve_ids, tuple(sorted(set(qids)))
            )
            self._lists[new.id] = new
            self._next_id += 1
            return new

    def get(self, list_id: int) -> SearchList | None:
        """Return the list with ``list_id``, or None."""
        with self._lock:
            return self._lists.get(list_id)

    def by_title(self, title: str) -> SearchList | None:
        """Return the list titled exactly ``title``, or None."""
        with self._lock:
            return next((one for one in self._lists.values() if one.title == title), None)

    def delete(self, list_id: int) -> bool:
        """Delete the list; return False when there was none with that id."""
        with self._lock:
            return self._lists.pop(list_id, None) is not None

    def all(self) -> list[SearchList]:
        """Return every open list, by id."""
        with self._lock:
            return [self._lists[key] for key in sorted(self._lists)]

    def clear(self) -> None:
        """Delete every list (ids are never reused)."""
        with self._lock:
            self._lists.clear()
