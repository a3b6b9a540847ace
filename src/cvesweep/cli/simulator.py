"""``cvesweep simulator``: serve the built-in Qualys simulator (placeholder, being written)."""

from __future__ import annotations

from cvesweep.cli.app import app


@app.command()
def simulator() -> None:
    """Serve a simulated Qualys VM API on loopback."""
