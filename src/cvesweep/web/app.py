"""The web application factory: state shared by the routes, middleware, routers, static files.

Typical use (what ``cvesweep serve`` does)::

    app = create_app(lambda: settings, library_url, token=None)
    uvicorn.run(app, host="127.0.0.1", port=8000)

Settings come through ``settings_loader`` so that a server started before its Qualys
settings are complete still serves the library pages; a search or a connection test then
shows the ConfigError. The library is opened (and its schema checked) by the factory.
"""

from __future__ import annotations

import functools
import importlib.resources
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from cvesweep import __version__
from cvesweep.library import Library
from cvesweep.library.reading import upgrade_needed
from cvesweep.web import api, pages_auth, pages_library, pages_search, pages_sweep, taxii
from cvesweep.web.head import HeadAsGet
from cvesweep.web.jobs import JobManager
from cvesweep.web.limits import MAX_ACTIVE, RequestLimits
from cvesweep.web.rendering import install_error_handlers, make_templates
from cvesweep.web.security import SecurityHeaders, check_request_origin
from cvesweep.web.sessions import Clock, SessionStore, Throttle
from cvesweep.web.state import SettingsLoader, SettingsPreview, WebState


def create_app(
    settings_loader: SettingsLoader,
    library_url: str,
    token: str | None = None,
    *,
    allowed_hosts: Sequence[str] | None = None,
    qualys_transport: httpx.BaseTransport | None = None,
    jobs: JobManager | None = None,
    clock: Clock = time.monotonic,
    max_active: int = MAX_ACTIVE,
    settings_preview: SettingsPreview | None = None,
) -> FastAPI:
    """Return the cvesweep web application over the library at ``library_url``.

    ``token``: when set, every page and API call requires it. ``allowed_hosts``: when set,
    requests with another Host header are refused (DNS rebinding). ``qualys_transport``
    lets tests reach a simulator in-process; ``clock`` (monotonic seconds) drives session
    expiry and the wrong-token throttle; ``max_active`` bounds the requests worked on at
    once (web.limits); ``settings_preview`` gives the incomplete settings the settings page
    shows while ``settings_loader`` fails (WebState.incomplete_settings).
    A library whose schema is too old is served all the same (its pages answer 503 with
    the upgrade hint) after one warning line on stderr. Raises LibraryError when the
    library cannot be opened.
    """
    library = Library.open(library_url)
    _warn_if_old(library)
    state = WebState(
        settings_loader=settings_loader,
        library=library,
        jobs=jobs or JobManager(),
        templates=make_templates(),
        sessions=SessionStore(clock=clock),
        throttle=Throttle(clock=clock),
        token=token or None,
        allowed_hosts=tuple(h.lower() for h in allowed_hosts) if allowed_hosts else None,
        qualys_transport=qualys_transport,
        settings_preview=settings_preview,
    )
    app = FastAPI(
        title="cvesweep",
        version=__version__,
        description="Which hosts in Qualys VM are vulnerable to a CVE: search, show, store.",
        docs_url=None,  # Swagger UI loads scripts from a CDN; /docs is our own page
        redoc_url=None,
        openapi_url=None,  # served by api.py, behind the token like every other route
        lifespan=functools.partial(_lifespan, state=state),
        dependencies=[Depends(check_request_origin)],
    )
    app.state.web = state
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLimits, max_active=max_active)  # before any work
    app.add_middleware(HeadAsGet)  # outermost: a HEAD is a GET whose body is dropped
    install_error_handlers(app)
    static = importlib.resources.files("cvesweep.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    for router in (
        pages_auth.router,
        pages_search.router,
        pages_sweep.router,
        pages_library.router,
        api.router,
        api.meta,
        taxii.router,
    ):
        app.include_router(router)
    return app


def _warn_if_old(library: Library) -> None:
    """Print one warning line on stderr when the library needs upgrading before it is read."""
    error = upgrade_needed(library.engine)
    if error is not None:
        print(f"warning: {error.message}; {error.hint}", file=sys.stderr)


@asynccontextmanager
async def _lifespan(app: FastAPI, *, state: WebState) -> AsyncIterator[None]:
    """On shutdown, cancel running searches (their search lists get deleted), close the library."""
    yield
    state.jobs.shutdown()
    sweeps = getattr(app.state, "sweeps", None)
    if sweeps is not None:
        sweeps.shutdown()
    state.library.close()
