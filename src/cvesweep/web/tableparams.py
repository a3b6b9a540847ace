"""The query parameters of a server-side table (sort, order, q, offset, limit), declared once.

Pages and the JSON API take the same names and bounds: ``sort`` one of the table's columns,
``order`` ``asc`` or ``desc``, ``q`` a filter text, ``offset`` and ``limit`` the page
(``limit`` 1 to :data:`~cvesweep.library.listing.PAGE_MAX`, default 100; 1 to
:data:`HTML_PAGE_MAX` on the pages). Out-of-bounds values
are a 422 naming the parameter (FastAPI checks them before any handler runs).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import Query

from cvesweep.library.listing import PAGE_DEFAULT, PAGE_MAX
from cvesweep.web.bounds import OFFSET_MAX, SEARCH_MAX_CHARS


class Order(StrEnum):
    """The direction of a sort."""

    ASC = "asc"
    DESC = "desc"


OrderParam = Annotated[
    Order | None, Query(description="asc or desc; by default the column's own (severity: desc)")
]
FilterParam = Annotated[
    str, Query(max_length=SEARCH_MAX_CHARS, description="only rows containing every word")
]
OffsetParam = Annotated[
    int, Query(ge=0, le=OFFSET_MAX, description="rows to skip: the page starts after them")
]
LimitParam = Annotated[int, Query(ge=1, le=PAGE_MAX, description="rows in the page at most")]
HTML_PAGE_MAX = 500  # rows of a page in HTML: 500 result rows are about 200 KB (< 300 KB)
PageLimitParam = Annotated[int, Query(ge=1, le=HTML_PAGE_MAX)]
LIMIT_DEFAULT = PAGE_DEFAULT


def descending(order: Order | None, *, default: bool) -> bool:
    """True when the rows go high to low: as ``order`` says, else the column's ``default``."""
    return default if order is None else order is Order.DESC
