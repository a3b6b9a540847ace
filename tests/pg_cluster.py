"""A throwaway PostgreSQL server on 127.0.0.1 for the tests and the benchmarks.

``CVESWEEP_TEST_PG_URL`` names a server to use (what ``.ci/run`` exports, e.g.
``postgresql+psycopg://postgres@127.0.0.1:54329/postgres``: a role allowed to create and
drop databases). Without it, :func:`start_cluster` makes one itself: ``initdb`` and
``pg_ctl`` found on PATH or under ``/usr/lib/postgresql/*/bin`` (Debian), a data directory
in a new temporary directory, listening only on 127.0.0.1 at a free port and on a Unix
socket in that directory, trust authentication (loopback only, and the cluster lives as
long as the test session), durability off (``fsync=off``: nothing here must survive a
crash). As root, the server runs as the ``postgres`` user (``runuser``), as PostgreSQL
requires. Each test gets a database of its own from :meth:`Server.database`.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_URL = "CVESWEEP_TEST_PG_URL"
SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c wal_level=minimal "
    "-c max_wal_senders=0 -c max_connections=200 -c max_wal_size=4GB -c checkpoint_timeout=1h"
)
START_TIMEOUT_S = 60


class Unavailable(Exception):
    """No PostgreSQL server can be used here; the message says why."""


@dataclass
class Server:
    """A PostgreSQL server: its admin URL and, when we started it, its directory."""

    url: str  # SQLAlchemy URL of the maintenance database, postgresql+psycopg://...
    directory: Path | None = None
    pg_ctl: Path | None = None
    user: str | None = None  # the account the server runs as, when started as root
    pools: dict[bool, DatabasePool] = field(default_factory=dict)
    template: str | None = None  # a database holding an empty current library

    def admin(self) -> Any:
        """An autocommit psycopg connection to the maintenance database."""
        import psycopg

        return psycopg.connect(libpq_url(self.url), autocommit=True)

    @contextmanager
    def database(self, *, library: bool = False) -> Iterator[str]:
        """Yield the URL of a new database (C collation, like SQLite's); drop it after.

        The database is empty, or with ``library`` holds an empty library of the current
        schema (a copy of one made by ``Library.open(url, create=True)``). Databases are
        made ahead and dropped behind by a background thread: a CREATE DATABASE takes
        0.1-0.5 s, and creating the schema 0.2 s, which the tests would otherwise wait for.
        """
        if library not in self.pools:
            self.pools[library] = DatabasePool(self, self._library_template() if library else None)
        pool = self.pools[library]
        name = pool.take()
        try:
            yield _with_database(self.url, name)
        finally:
            pool.drop(name)

    def _library_template(self) -> str:
        from cvesweep.library import Library

        name = _new_name()
        with self.admin() as admin:
            admin.execute(_create_database(name, "template0"))
        Library.open(_with_database(self.url, name), create=True).close()  # no session left
        self.template = name
        return name

    def stop(self) -> None:
        """Drop what the pools made; stop a server we started and delete its directory (a
        given server is left running)."""
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()
        if self.template is not None:
            with self.admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            self.template = None
        if self.directory is None or self.pg_ctl is None:
            return
        data = self.directory / "data"
        _run(self.user, [str(self.pg_ctl), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.directory, ignore_errors=True)


class DatabasePool:
    """Databases made ahead (copies of ``template``, by default an empty one), and used ones
    dropped behind, by one background thread."""

    AHEAD = 2

    def __init__(self, server: Server, template: str | None = None) -> None:
        self.server = server
        self.template = template or "template0"
        self.ready: queue.Queue[str | BaseException] = queue.Queue()
        self.tasks: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="pg-database-pool", daemon=True)
        self.thread.start()
        for _ in range(self.AHEAD):
            self.tasks.put(("create", _new_name()))

    def take(self) -> str:
        """The name of a new database (waits for one). Raises what making it raised."""
        self.tasks.put(("create", _new_name()))
        found = self.ready.get(timeout=120)
        if isinstance(found, BaseException):
            raise found
        return found

    def drop(self, name: str) -> None:
        """Drop ``name`` in the background (connections still open to it are ended)."""
        self.tasks.put(("drop", name))

    def close(self) -> None:
        """Finish the queued work, then drop the databases made ahead."""
        self.tasks.put(None)
        self.thread.join(timeout=120)
        with self.server.admin() as admin:
            while not self.ready.empty():
                name = self.ready.get()
                if isinstance(name, str):
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _work(self) -> None:
        with self.server.admin() as admin:
            while (task := self.tasks.get()) is not None:
                action, name = task
                try:
                    if action == "create":
                        admin.execute(_create_database(name, self.template))
                        self.ready.put(name)
                    else:
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except Exception as exc:  # handed to the test that waits for a database
                    self.ready.put(Unavailable(f"{action} database {name} failed: {exc}"))


def _create_database(name: str, template: str) -> str:
    return (
        f'CREATE DATABASE "{name}" TEMPLATE "{template}" ENCODING \'UTF8\' '
        "LC_COLLATE 'C' LC_CTYPE 'C'"
    )


def _new_name() -> str:
    return f"cvesweep_test_{uuid.uuid4().hex[:12]}"


def server_from_environment() -> Server | None:
    """The server named by CVESWEEP_TEST_PG_URL, checked to answer; None when unset.

    Raises Unavailable when it is set but the server cannot be reached (a CI run must fail
    loudly then, not skip).
    """
    url = os.environ.get(ENV_URL, "").strip()
    if not url:
        return None
    server = Server(url)
    try:
        server.admin().close()
    except Exception as exc:  # psycopg missing, refused, bad URL
        raise Unavailable(f"{ENV_URL} is set but the server does not answer: {exc}") from exc
    return server


def start_cluster(options: str = SERVER_OPTIONS) -> Server:
    """Start a throwaway cluster (see the module docstring) with the server ``options``
    (``-c name=value`` ones). Raises Unavailable."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise Unavailable("psycopg is not installed (pip install -e '.[postgres]')") from exc
    initdb, pg_ctl = find_binaries()
    user = _server_user()
    directory = Path(tempfile.mkdtemp(prefix="cvesweep-pg-"))
    try:
        if user is not None:
            shutil.chown(directory, user)
        data = directory / "data"
        _run(user, [str(initdb), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--locale=C", "--no-sync", "--no-instructions"])  # fmt: skip
        port = _start(user, pg_ctl, directory, options)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Server(
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", directory, pg_ctl, user
    )


def find_binaries() -> tuple[Path, Path]:
    """``initdb`` and ``pg_ctl``: on PATH, else the newest /usr/lib/postgresql/N/bin."""
    found = [shutil.which("initdb"), shutil.which("pg_ctl")]
    if all(found):
        return Path(str(found[0])), Path(str(found[1]))
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for bin_dir in reversed(versions):
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            return bin_dir / "initdb", bin_dir / "pg_ctl"
    raise Unavailable(
        "no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin (apt install postgresql)"
    )


def _server_user() -> str | None:
    """The account to run the server as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise Unavailable(
            "running as root and there is no 'postgres' user to run the server"
        ) from exc
    if shutil.which("runuser") is None:
        raise Unavailable("running as root and runuser is missing")
    return "postgres"


def _start(user: str | None, pg_ctl: Path, directory: Path, options: str) -> int:
    """Start the server at a free loopback port (three tries: a port may be taken meanwhile)."""
    last = ""
    for _ in range(3):
        port = _free_port()
        listen = f"-h 127.0.0.1 -p {port} -k {directory} {options}"
        done = _run(user, [str(pg_ctl), "-D", str(directory / "data"), "-l",
                           str(directory / "server.log"), "-o", listen, "-w",
                           "-t", str(START_TIMEOUT_S), "start"], check=False)  # fmt: skip
        if done.returncode == 0:
            return port
        last = (directory / "server.log").read_text(errors="replace")[-2000:]
        time.sleep(0.2)
    raise Unavailable(f"pg_ctl could not start the server: {last.strip()}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(
    user: str | None, command: list[str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    argv = ["runuser", "-u", user, "--", *command] if user else command
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{Path(command[0]).name} failed: {exc}") from exc
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise Unavailable(f"{Path(command[0]).name} failed: {' '.join(detail)}")
    return done


def libpq_url(url: str) -> str:
    """The libpq form (``postgresql://``) of a SQLAlchemy URL (``postgresql+psycopg://``)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _with_database(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name``."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)
