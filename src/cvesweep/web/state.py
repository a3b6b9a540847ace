"""What every route shares: the settings loader, the library, the search jobs, templates."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, cast

import httpx
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from cvesweep.library import Library
from cvesweep.qualys.detections import ProgressCallback
from cvesweep.qualys.searchlists import TemporaryList
from cvesweep.runner import RunOutcome, RunRequest, run_search
from cvesweep.settings import Settings
from cvesweep.web.jobs import JobManager, JobView
from cvesweep.web.sessions import SessionStore, Throttle

SettingsLoader = Callable[[], Settings]
# The settings to show while incomplete (e.g. no password yet): display only, never used.
SettingsPreview = Callable[[], Settings | None]


@dataclass(frozen=True)
class WebState:
    """What every route may use; stored as ``app.state.web``.

    ``sessions`` and ``throttle`` matter only when ``token`` is set (see web.security).
    """

    settings_loader: SettingsLoader
    library: Library
    jobs: JobManager
    templates: Jinja2Templates
    sessions: SessionStore
    throttle: Throttle
    token: str | None = None
    allowed_hosts: tuple[str, ...] | None = None
    qualys_transport: httpx.BaseTransport | None = None
    settings_preview: SettingsPreview | None = None

    def settings(self) -> Settings:
        """Return the current Qualys settings. Raises ConfigError / InputError."""
        return self.settings_loader()

    def incomplete_settings(self) -> Settings | None:
        """The settings as far as they are given (URL, username, TLS) when :meth:`settings`
        fails for a missing password or secret, for the settings page; None otherwise.
        Their password, if any, is a placeholder: never send anything with them."""
        return self.settings_preview() if self.settings_preview is not None else None

    def start_search(self, request: RunRequest) -> JobView | None:
        """Start a search job for ``request``; None when too many are running.

        Raises ConfigError / InputError when the settings are unusable (nothing starts).
        """
        settings = self.settings()

        def search(
            progress: ProgressCallback,
            cancel: threading.Event,
            on_list: Callable[[TemporaryList], None],
        ) -> RunOutcome:
            return run_search(
                settings,
                request,
                library_url=self.library.url,
                progress=progress,
                cancel=cancel,
                transport=self.qualys_transport,
                on_search_list=on_list,
            )

        return self.jobs.start(request, search)


def web_state(request: Request) -> WebState:
    """Dependency: the application's WebState."""
    return cast(WebState, request.app.state.web)


Web = Annotated[WebState, Depends(web_state)]
