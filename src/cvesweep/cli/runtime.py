"""Process-level concerns of the CLI: logging, the progress bar, SIGTERM as Ctrl-C."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cvesweep.qualys.detections import Progress as SearchProgress
from cvesweep.qualys.detections import ProgressCallback


def configure_logging(debug: bool) -> None:
    """Warnings on stderr; everything with --debug (never the password: nothing logs it)."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not debug:
        logging.getLogger("httpx").setLevel(logging.WARNING)


@contextmanager
def progress_reporter() -> Iterator[ProgressCallback | None]:
    """A callback drawing a progress line on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("asking Qualys…", total=None)

        def report(progress: SearchProgress) -> None:
            text = (
                f"pages {progress.pages}  hosts {progress.hosts}  detections {progress.detections}"
            )
            bar.update(task, description=text)

        yield report


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt so clean-up code runs.

    When the block ends by an interrupt (KeyboardInterrupt, or an error with exit status
    130), SIGINT and SIGTERM are ignored from then on: the command is on its way out with
    status 130, its run recorded, and a second signal must not end it by the signal (143).
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    stopping = False
    try:
        yield
    except BaseException as error:
        stopping = isinstance(error, KeyboardInterrupt) or getattr(error, "exit_code", 0) == 130
        if stopping:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise
    finally:
        if not stopping:
            signal.signal(signal.SIGTERM, previous)
