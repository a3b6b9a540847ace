"""Dynamic QID search lists: create one for a CVE, delete it always, find leftovers.

A run's list title is ``cvesweep <CVE> <UTC time> <random>`` (``SWEEP-<n>`` for a list of a
sweep's ``n`` CVEs): the reserved prefix lets
:func:`find_leftovers` recognise lists left behind by a killed run, and the time in the
title tells their age without relying on optional fields of the list reply.
"""

from __future__ import annotations

import logging
import re
import secrets
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from cvesweep.errors import (
    CvesweepError,
    QualysConnectionError,
    QualysError,
    QualysRequestError,
    QualysResponseError,
)
from cvesweep.models import CveId
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.endpoints import Endpoint
from cvesweep.qualys.gateway import TOKEN_CALL
from cvesweep.qualys.responses import (
    parse_search_list_id,
    parse_search_list_qids,
    parse_search_lists,
)

log = logging.getLogger(__name__)

TITLE_PREFIX = "cvesweep "
_TITLE_RE = re.compile(r"^cvesweep (?P<cve>\S+) (?P<stamp>\d{8}T\d{6}Z) [0-9a-f]{8}$")


def new_title(cve: CveId, now: datetime | None = None) -> str:
    """A unique title with the reserved prefix.

    E.g. ``cvesweep CVE-2021-44228 20261128T073000Z 7f3a9c2e``.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{TITLE_PREFIX}{cve} {stamp} {secrets.token_hex(4)}"


def title_time(title: str) -> datetime | None:
    """When a cvesweep list was created, read from its title; None for other titles."""
    match = _TITLE_RE.match(title)
    if match is None:
        return None
    return datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def create(client: QualysClient, cve: CveId | Sequence[CveId], title: str) -> int:
    """Create a global dynamic search list of the QIDs of a CVE (or CVEs); return its id."""
    cve_ids = cve if isinstance(cve, str) else ",".join(cve)
    data = {"action": "create", "title": title, "cve_ids": cve_ids, "global": "1"}
    body = client.post(client.path(Endpoint.SEARCH_LIST), data, call="search list create")
    return parse_search_list_id(body)


def delete(client: QualysClient, list_id: int, *, patient: bool = True) -> None:
    """Delete a dynamic search list (``patient`` False: one try, no retry waits)."""
    client.post(
        client.path(Endpoint.SEARCH_LIST),
        {"action": "delete", "id": str(list_id)},
        call="search list delete",
        patient=patient,
    )


def qids_of(client: QualysClient, list_id: int) -> tuple[int, ...]:
    """The QIDs Qualys put in dynamic list ``list_id`` (empty: it knows no QID for its CVEs)."""
    return qids_of_lists(client, [list_id])[list_id]


def qids_of_lists(client: QualysClient, list_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """List id → the QIDs Qualys put in it, for several lists in one call."""
    data = {"action": "list", "ids": ",".join(map(str, list_ids)), "show_qids": "1"}
    body = client.post(client.path(Endpoint.SEARCH_LIST), data, call="search list read-back")
    return parse_search_list_qids(body, list_ids)


def list_all(client: QualysClient) -> list[tuple[int, str]]:
    """Every dynamic search list of the subscription as (id, title)."""
    body = client.post(
        client.path(Endpoint.SEARCH_LIST), {"action": "list"}, call="search list list"
    )
    return parse_search_lists(body)


def find_leftovers(
    lists: list[tuple[int, str]], *, older_than_minutes: float, now: datetime | None = None
) -> list[tuple[int, str]]:
    """The lists carrying the reserved prefix that are older than the given age.

    A prefixed title without cvesweep's creation time has an unknown age: it is included
    only when ``older_than_minutes`` is 0, so a run in progress is never mistaken for one.
    """
    now = now or datetime.now(UTC)
    found = []
    for list_id, title in lists:
        if not title.startswith(TITLE_PREFIX):
            continue
        created = title_time(title)
        age_min = (now - created).total_seconds() / 60 if created else None
        if older_than_minutes == 0 or (age_min is not None and age_min >= older_than_minutes):
            found.append((list_id, title))
    return found


@dataclass
class TemporaryList:
    """A search list that lives for one run; ``deleted`` tells whether clean-up succeeded."""

    id: int
    title: str
    deleted: bool = False
    delete_error: BaseException | None = None


def temporary(client: QualysClient, cve: CveId) -> AbstractContextManager[TemporaryList]:
    """:func:`temporary_for` one CVE."""
    return temporary_for(client, [cve])


@contextmanager
def temporary_for(client: QualysClient, cves: Sequence[CveId]) -> Iterator[TemporaryList]:
    """Create a list for ``cves`` and delete it when the block ends, whatever happens.

    Whatever ends the block — success, a cvesweep error, Ctrl-C, SIGTERM, SystemExit, a
    cancel of the run (see qualys.abort: the clean-up calls are let through) — the delete is
    attempted; an interrupt that arrives while the delete is being retried gets one last
    immediate try. A create interrupted or failed in flight may still have made the list: it
    is then looked up by its unique title and deleted. A failure to delete never hides the
    block's own error; it is recorded on the TemporaryList (``deleted`` False,
    ``delete_error``) and logged with the list id.
    """
    title = new_title(cves[0] if len(cves) == 1 else CveId(f"SWEEP-{len(cves)}"))
    temp = TemporaryList(id=_create(client, cves, title), title=title)
    try:
        yield temp
    finally:
        _delete(client, temp)


def _create(client: QualysClient, cves: Sequence[CveId], title: str) -> int:
    try:
        return create(client, cves, title)
    except BaseException as error:
        # The reply may have been lost after Qualys created the list (an interrupt while it
        # was in flight, a cut connection, a retried create refused as a duplicate title).
        if not _refused_before_creating(error):
            _delete_by_title(client, title)
        raise


def _refused_before_creating(error: BaseException) -> bool:
    """True when the create surely made nothing: Qualys refused it (bad login, bad parameter —
    not a duplicate title, the sign of a retried create), or it was never sent (the gateway
    token could not be had)."""
    if isinstance(error, QualysError) and error.call == TOKEN_CALL:
        return True
    if isinstance(error, QualysConnectionError) and _never_connected(error):
        return True
    if isinstance(error, QualysResponseError) and error.http_status in range(400, 500):
        return True  # not a Qualys API there (e.g. a URL with a path: 404)
    return isinstance(error, QualysRequestError) and "title" not in error.message


def _never_connected(error: QualysConnectionError) -> bool:
    """True when no request reached a server: refused, unreachable, TLS never agreed."""
    text = f"{error.message} {error.hint or ''}"
    marks = ("ConnectError", "ConnectTimeout", "certificate", "speak TLS", "use https://")
    return any(mark in text for mark in marks)


def _delete_by_title(client: QualysClient, title: str) -> None:
    """Find the list titled ``title`` and delete it (signals held meanwhile); errors logged."""
    # A signal held by interrupts_deferred() is raised when the block ends: after the work.
    with interrupts_deferred(), client.cleaning_up():
        try:
            for list_id, found in list_all(client):
                if found == title:
                    delete(client, list_id, patient=False)
                    log.info("search list %d (%s) created in flight was deleted", list_id, title)
        except CvesweepError as failure:
            log.warning(
                "a search list titled %r may be left in Qualys (%s); "
                "run 'cvesweep cleanup --older-than 0'",
                title,
                failure,
            )


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM (main thread) for the few calls of a clean-up already under way.

    A second Ctrl-C would otherwise stop the clean-up the first one started and leave the
    list behind; the held signal is delivered when the block ends. Elsewhere (the web UI's
    threads, which get no signals) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _delete(client: QualysClient, temp: TemporaryList) -> None:
    try:
        with client.cleaning_up():  # made even when the run was cancelled
            delete(client, temp.id)
        temp.deleted = True
        return
    except CvesweepError as error:
        temp.delete_error = error
    except BaseException as interrupt:  # Ctrl-C/SIGTERM while deleting, e.g. in a retry wait
        temp.delete_error = interrupt
        _last_try(client, temp)
        raise
    # Logged at info only: the front end reports it once (the CLI's warning, the web summary).
    log.info("search list %d (%s) was not deleted: %s", temp.id, temp.title, temp.delete_error)


def _last_try(client: QualysClient, temp: TemporaryList) -> None:
    # A signal held by interrupts_deferred() is raised when the block ends: after the record.
    with interrupts_deferred(), client.cleaning_up():
        try:
            delete(client, temp.id, patient=False)
            temp.deleted = True
            temp.delete_error = None
        except CvesweepError as failure:
            if _gone(client, temp.id):  # the interrupted delete was done; its reply was lost
                temp.deleted, temp.delete_error = True, None
                return
            temp.delete_error = failure
            log.info("search list %d (%s) was not deleted: %s", temp.id, temp.title, failure)


def _gone(client: QualysClient, list_id: int) -> bool:
    """True when Qualys lists no search list ``list_id`` (one try; False if it cannot tell)."""
    try:
        body = client.post(
            client.path(Endpoint.SEARCH_LIST), {"action": "list"}, call="search list list",
            patient=False,
        )  # fmt: skip
        return all(found != list_id for found, _ in parse_search_lists(body))
    except CvesweepError:
        return False
