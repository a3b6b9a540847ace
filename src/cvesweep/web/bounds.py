"""The bounds the web UI and JSON API put on what they accept, declared once.

The API declares them in its schema (``/openapi.json``: patterns, ``maxLength``,
``maximum``) and FastAPI enforces them before any handler runs (422, the field named); the
pages use the same numbers. The search filters' own bounds are the CLI's
(:mod:`cvesweep.inputs`), the CVE id's that of :func:`cvesweep.models.parse_cve`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cvesweep.models import CVE_MAX_LENGTH

# CVE-YYYY-NNNN… in any case, the year 1999-2999, as parse_cve accepts it (without the blanks
# parse_cve strips: the API takes the id exactly). ECMA-262 syntax, for OpenAPI and pydantic.
CVE_PATTERN = r"^[Cc][Vv][Ee]-(1999|2[0-9]{3})-[0-9]{4,}$"
JOB_ID_PATTERN = r"^[0-9a-f]{16}$"  # secrets.token_hex(8), see web.jobs
JOB_ID_MAX_CHARS = 64  # pages: a longer id is no search
ASSET_VALUE_MAX_CHARS = 255  # an asset's value is an IPv4 or IPv6 address
SEARCH_MAX_CHARS = 255  # the IP-or-hostname filter: a DNS name has at most 253
TAG_MAX_CHARS = 1_000  # Qualys tag names are long at times (300 characters seen)
OFFSET_MAX = 1_000_000_000  # SQLite and PostgreSQL take 64-bit offsets; no library is near
PAGE_MAX = 1_000
CVES_PER_EXPORT_MAX = 1_000

CveText = Annotated[
    str,
    Field(pattern=CVE_PATTERN, max_length=CVE_MAX_LENGTH, examples=["CVE-2021-44228"]),
]
