"""Output formats for search results: table, JSON, CSV."""

from __future__ import annotations

from cvesweep.export.interface import OutputFormat, write_result
from cvesweep.export.table import write_summary

__all__ = ["OutputFormat", "write_result", "write_summary"]
