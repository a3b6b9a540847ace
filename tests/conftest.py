"""Shared fixtures: paths to the real Qualys samples."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "qualys-samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The directory of real Qualys replies (../shared/qualys-samples)."""
    if not SAMPLES.is_dir():
        pytest.fail(f"real Qualys samples not found at {SAMPLES}")
    return SAMPLES
