"""The output formats of a search result and the one function that writes any of them."""

from __future__ import annotations

from enum import StrEnum
from typing import TextIO, assert_never

from cvesweep.errors import ExportError
from cvesweep.export.csvout import write_csv
from cvesweep.export.jsonout import write_json
from cvesweep.export.table import write_table
from cvesweep.models import SearchResult


class OutputFormat(StrEnum):
    """How ``cvesweep search`` writes its result (``--format``)."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def write_result(result: SearchResult, fmt: OutputFormat, stream: TextIO) -> None:
    """Write ``result`` to ``stream`` in format ``fmt``, iterating its hosts once.

    Raises ExportError when the stream cannot be written (disk full, closed pipe...).
    """
    try:
        if fmt is OutputFormat.TABLE:
            write_table(result, stream)
        elif fmt is OutputFormat.JSON:
            write_json(result, stream)
        elif fmt is OutputFormat.CSV:
            write_csv(result, stream)
        else:
            assert_never(fmt)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(f"could not write the {fmt.value} output: {reason}") from exc
