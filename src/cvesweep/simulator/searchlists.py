"""The subscription's dynamic QID search lists: create with unique titles, list, update, delete.

Thread-safe; the QIDs of a list are resolved from the knowledge base when it is created or
updated (the simulated knowledge base never changes, so they change only by an update).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

FIRST_ID = 3_034_713  # list ids look like real ones (searchlist_create_success_*.xml)
MAX_TITLE = 256


@dataclass(frozen=True, slots=True)
class SearchList:
    """One dynamic search list; ``qids`` are sorted and unique.

    ``modified`` / ``modified_by`` are the creation time and owner until an update.
    """

    id: int
    title: str
    is_global: bool
    owner: str
    created: datetime
    cve_ids: tuple[str, ...]
    qids: tuple[int, ...]
    modified: datetime
    modified_by: str

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
                self._next_id,
                title,
                is_global,
                owner,
                created,
                cve_ids,
                tuple(sorted(set(qids))),
                modified=created,
                modified_by=owner,
            )
            self._lists[new.id] = new
            self._next_id += 1
            return new

    def update(
        self,
        list_id: int,
        *,
        user: str,
        when: datetime,
        title: str | None = None,
        cves: tuple[tuple[str, ...], Iterable[int]] | None = None,
    ) -> SearchList | None:
        """Change the title and/or (CVE ids, QIDs) of a list; return it, None if unknown.

        Raises DuplicateTitle when ``title`` belongs to another list.
        """
        with self._lock:
            old = self._lists.get(list_id)
            if old is None:
                return None
            if title is not None and any(
                one.title == title and one.id != list_id for one in self._lists.values()
            ):
                raise DuplicateTitle(title)
            new = replace(old, modified=when, modified_by=user, title=title or old.title)
            if cves is not None:
                new = replace(new, cve_ids=cves[0], qids=tuple(sorted(set(cves[1]))))
            self._lists[list_id] = new
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
