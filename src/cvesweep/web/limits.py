"""Bounds on what requests may cost the server: how many are worked on at once, body sizes.

Why (issue 10): under 200 concurrent GETs the server grew from 107 MB to 660 MB. Every
request was worked on at once: uvicorn accepts every connection, and each request's
dependencies, handler and response serialisation ran in the 40 threads of anyio's pool,
taking turns, so up to 200 requests each held their library rows, models and rendered page
at the same time (and 40 threads meant 40 glibc malloc arenas that never shrink back).

:class:`RequestLimits` is a plain ASGI middleware around the whole application:

- at most ``max_active`` HTTP requests are worked on at once; the others wait, holding only
  their connection, before any of their work starts. A request gives its turn back when its
  response starts (a rendered page or JSON body is bytes by then; static files stream), so a
  slow reader does not hold a turn while it downloads;
- a request body may have at most ``max_body`` bytes, whether it declares its length or is
  chunked: reading more raises HTTPException 413, which the error handlers show in the
  usual shape (JSON for the API, the error page for forms).
"""

from __future__ import annotations

import asyncio
import weakref

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_ACTIVE = 8
MAX_BODY_BYTES = 256 * 1024  # a search form at its bounds is about 60 KB form-encoded
# The sweep form uploads a CVE file (cvelists.MAX_FILE_BYTES, 16 MiB) with its fields.
UPLOAD_PATHS = {"/sweep": 17 * 1024 * 1024}


class RequestLimits:
    """ASGI middleware: bound the requests worked on at once and the size of request bodies."""

    def __init__(
        self, app: ASGIApp, *, max_active: int = MAX_ACTIVE, max_body: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.max_active = max_active
        self.max_body = max_body
        # One semaphore per event loop: an asyncio primitive belongs to the loop it first
        # waited in, and tests drive one app from several loops.
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._turns = weakref.WeakKeyDictionary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        turn = self._turn()
        await turn.acquire()
        held = True

        async def send_then_release(message: Message) -> None:
            nonlocal held
            if held and message["type"] == "http.response.start":
                held = False
                turn.release()
            await send(message)

        try:
            await self.app(scope, self._bounded(scope, receive), send_then_release)
        finally:
            if held:
                turn.release()

    def _turn(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        turn = self._turns.get(loop)
        if turn is None:
            turn = self._turns[loop] = asyncio.Semaphore(self.max_active)
        return turn

    def _bounded(self, scope: Scope, receive: Receive) -> Receive:
        """``receive``, raising HTTPException 413 once the body passes ``max_body`` bytes."""
        limit = max(self.max_body, UPLOAD_PATHS.get(scope.get("path", ""), 0))
        declared = _content_length(scope)
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            if declared is not None and declared > limit:
                raise _too_large(limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
            return message

        return bounded_receive


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 20 else None
    return None


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the request body is larger than {limit:,} bytes")
