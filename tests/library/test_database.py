"""Opening a library: errors a new user meets get a hint that says what to do."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cvesweep.errors import LibraryError
from cvesweep.library import Library


def test_a_sqlite_file_in_a_missing_directory_hints_at_the_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'library.db'}"
    with pytest.raises(LibraryError) as caught:
        Library.open(url, create=True).close()
    assert "directory" in (caught.value.hint or "")
    assert not (tmp_path / "no").exists()


def test_a_postgresql_url_without_the_driver_hints_at_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m == "psycopg" or m.startswith("psycopg.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails
    with pytest.raises(LibraryError) as caught:
        Library.open("postgresql+psycopg://user@127.0.0.1:1/db")
    assert "pip install 'cvesweep[postgres]'" in (caught.value.hint or "")
