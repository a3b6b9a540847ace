"""Schemathesis against the app in-process: every API answer matches /openapi.json.

Schemathesis's engine (what ``schemathesis run`` does) reads the schema the app serves and,
for each API operation, sends the app requests through its ASGI transport (no socket): the
coverage phase's boundary values of every parameter and body property (at and past each
``maxLength`` and ``maximum``, each wrong type, each pattern broken) and a bounded number of
generated ones, that fit the schema and that break it. It checks that no answer is a 5xx,
every status, content type, header and body is the one declared, and every request the
schema forbids is refused (4xx). The app's Qualys is the module's simulator on 127.0.0.1.

One check is left out, ``positive_data_acceptance`` (a request that fits the schema must not
get a 4xx): the schema declares each filter's type and bound, not its grammar, so a string
such as ``"10.0.0.9-10.0.0.1"`` for ``ips`` fits it and is refused by the CLI's validator
with the documented 400; and a well-formed CVE id that is not in the library is a 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.web import create_app
from cvesweep.web.jobs import JobManager
from tests.web.conftest import Qualys, WebClient, settings_for, start_search

EXAMPLES = 15  # generated requests per operation and phase: the run takes about 15 s
CONFIG = {
    "seed": 1,
    "phases": {
        "examples": {"enabled": False},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},
    },
    "generation": {
        "mode": "all",  # requests that fit the schema and requests that break it
        "max-examples": EXAMPLES,
        "deterministic": True,  # the same requests on every run: a failure can be replayed
        "database": "none",
    },
    "checks": {"positive_data_acceptance": {"enabled": False}},
}
OPERATIONS = {
    "POST /api/searches",
    "GET /api/searches/{job_id}",
    "POST /api/searches/{job_id}/cancel",
    "GET /api/searches/{job_id}/result",
    "GET /api/cves",
    "GET /api/cves/{cve}",
    "GET /api/cves/{cve}/export",
    "GET /api/assets",
    "GET /api/assets/{value}",
    "GET /api/runs",
    "GET /api/export/stix",
}


@pytest.fixture(scope="module")
def web_schema(
    qualys_server: Qualys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    """The schema of an app whose library holds one search (so reads find things)."""
    library = Path(tmp_path_factory.mktemp("schemathesis")) / "library.db"
    app = create_app(
        lambda: settings_for(qualys_server.url),
        f"sqlite:///{library}",
        jobs=JobManager(max_running=1),
    )
    owner = WebClient(app)
    owner.wait(start_search(owner, cve=LOG4SHELL))
    config = SchemathesisConfig.from_dict(CONFIG)
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    owner.close()


def test_every_api_answer_matches_the_schema(web_schema: schemathesis.BaseSchema) -> None:
    failures: list[str] = []
    tested: set[str] = set()
    for event in engine.from_schema(web_schema).execute():
        if isinstance(event, events.ScenarioFinished):
            tested.add(event.recorder.label)
            if event.status in (Status.FAILURE, Status.ERROR):
                failures.extend(_failures(event))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"schemathesis could not test: {event}")
    assert failures == []
    assert tested == OPERATIONS


def _failures(event: events.ScenarioFinished) -> Iterator[str]:
    for nodes in event.recorder.checks.values():
        for node in nodes:
            if node.failure_info is not None:
                failure = node.failure_info.failure
                yield f"{event.phase} {event.recorder.label} {node.name}: {failure}"
