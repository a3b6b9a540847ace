"""HEAD requests answered like GET: the same status and headers, no body (RFC 9110 §9.3.2).

FastAPI routes declared with GET refuse HEAD with 405; this middleware (outermost) hands a
HEAD request to the app as a GET and drops the body of its reply, keeping every header
(Content-Length and Content-Type included), so monitoring probes and ``curl -I`` see what a
GET would get.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI middleware: serve HEAD as GET without its body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
