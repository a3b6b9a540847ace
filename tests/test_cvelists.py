"""CVE lists for sweeps: ids, id files, CSV, the CISA KEV catalog; every problem named."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest

from cvesweep.cvelists import (
    MAX_CVES,
    CveTarget,
    fold,
    from_id_file,
    from_kev,
    load_targets,
    parse_added_since,
)
from cvesweep.errors import InputError
from cvesweep.models import CveId

KEV = (
    Path(__file__).resolve().parents[1]
    / "src/cvesweep/data/kev/known_exploited_vulnerabilities.json"
)


def test_the_shipped_kev_catalog_gives_its_1404_cves_with_their_facts() -> None:
    targets = load_targets(kev_files=[str(KEV)])
    assert len(targets) == 1404
    first = targets[0]
    assert first.cve == "CVE-2025-48384" and first.kev is not None
    assert (first.kev.vendor_project, first.kev.product, first.kev.due_date) == (
        "Git",
        "Git",
        "2025-09-15",
    )


def test_kev_filters_by_date_added_and_ransomware_use() -> None:
    text = KEV.read_text()
    recent = from_kev("kev", text, added_since=date(2025, 8, 1))
    assert recent and all(t.kev.date_added >= "2025-08-01" for t in recent)  # type: ignore[union-attr]
    ransom = from_kev("kev", text, ransomware_only=True)
    assert len(ransom) == 293 and all(t.kev.ransomware == "Known" for t in ransom)  # type: ignore[union-attr]


def test_an_id_file_takes_comments_blank_lines_and_any_case() -> None:
    text = "# advisory 2026-11\n\ncve-2021-44228  # log4shell\nCVE-2014-0160\n"
    assert [t.cve for t in from_id_file("ids.txt", text)] == ["CVE-2021-44228", "CVE-2014-0160"]


@pytest.mark.parametrize("header", ["cveID,vendorProject", "cve", "name,CVE,notes"])
def test_a_csv_with_a_cve_column_is_read_by_that_column(header: str) -> None:
    names = header.split(",")
    rows = [",".join("CVE-2021-44228" if n.lower() in ("cveid", "cve") else "x" for n in names)]
    text = "\n".join([header, *rows]) + "\n"
    assert [t.cve for t in from_id_file("list.csv", text)] == ["CVE-2021-44228"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("CVE-2021-44228\nlog4shell\n", "ids.txt line 2"),
        ("CVE-2021-44228\nCVE-21-1\n", "ids.txt line 2"),
        ("cveID,x\nCVE-2021-44228,a\nnope,b\n", "ids.txt line 3"),
    ],
)
def test_a_bad_line_names_the_file_and_the_line(text: str, where: str) -> None:
    with pytest.raises(InputError) as caught:
        from_id_file("ids.txt", text)
    assert caught.value.field == where


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not JSON"),
        ('{"title": "x"}', "no 'vulnerabilities' list"),
        ('{"vulnerabilities": [{"cveID": "CVE-2021-44228"}, {"vendorProject": "x"}]}', "entry 2"),
        ('{"vulnerabilities": [{"cveID": "CVE-2021-442"}]}', "entry 1"),
        ('{"vulnerabilities": [{"cveID": "CVE-2021-44228", "dueDate": "soon"}]}', "dueDate"),
    ],
)
def test_a_malformed_catalog_or_entry_is_named(document: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        from_kev("kev.json", document)
    assert message in str(caught.value) and "kev.json" in str(caught.value)


def test_duplicates_are_folded_keeping_the_kev_facts() -> None:
    text = KEV.read_text()
    (kev_target,) = [t for t in from_kev("kev", text) if t.cve == "CVE-2025-48384"]
    folded = fold(
        [CveTarget(CveId("CVE-2025-48384")), kev_target, CveTarget(CveId("CVE-2025-48384"))]
    )
    assert folded == (kev_target,)


def test_too_many_cves_is_an_input_error() -> None:
    many = [CveTarget(CveId(f"CVE-2020-{n:05d}")) for n in range(MAX_CVES + 1)]
    with pytest.raises(InputError, match="at most"):
        fold(many)


def test_standard_input_is_read_once() -> None:
    stdin = io.BytesIO(json.dumps({"vulnerabilities": [{"cveID": "CVE-2021-44228"}]}).encode())
    assert [t.cve for t in load_targets(kev_files=["-"], stdin=stdin)] == ["CVE-2021-44228"]
    with pytest.raises(InputError, match="only once"):
        load_targets(kev_files=["-"], id_files=["-"], stdin=io.BytesIO(b""))


@pytest.mark.parametrize("value", ["2025-13-01", "yesterday", "2025-1-1", ""])
def test_a_bad_added_since_date_is_refused(value: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_added_since(value)
    assert caught.value.field == "--kev-added-since"


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_targets(id_files=[str(tmp_path / "missing.txt")])
    assert "missing.txt" in str(caught.value)


def test_a_cell_past_the_csv_field_limit_is_an_input_error() -> None:
    text = 'cveID,vendor\nCVE-2021-44228,"' + "x" * 200_000 + '"\n'
    with pytest.raises(InputError, match="not a readable CSV"):
        from_id_file("big.csv", text)


def test_a_catalog_nested_too_deeply_is_an_input_error() -> None:
    with pytest.raises(InputError, match="nested too deeply"):
        from_kev("deep.json", "[" * 100_000 + "]" * 100_000)
