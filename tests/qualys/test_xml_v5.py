"""Detection 5.0 and CVE detection 3.0 replies: new elements read by name, unknown ones ignored.

No real 5.0 or CVE-detection reply is public: the hand-made files follow the element lists of
docs/qualys-2026.md and are marked unverified.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cvesweep.errors import QualysResponseError
from cvesweep.qualys.xml import CVE_DETECTIONS, DETECTIONS, DetectionParser, iter_hosts


def parse(path: Path, kind: object = DETECTIONS) -> list[object]:
    return list(iter_hosts([path.read_bytes()], kind=kind))


def test_v5_detection_elements_reach_the_model(data_dir: Path) -> None:
    host, end = parse(data_dir / "detection_v5_handmade_unverified.xml")
    first, second = host.detections  # type: ignore[attr-defined]
    assert first.unique_vuln_id == 9123456789
    assert first.cves == ("CVE-2021-44228", "CVE-2021-45046")  # repeated, comma list, folded
    assert (first.qds, first.qds_severity) == (95, "CRITICAL")
    assert first.mitre_tactic_ids == ("TA0001", "TA0002")
    assert first.mitre_tactic_names == ("Initial Access", "Execution")
    assert first.mitre_technique_ids == ("T1190",)
    assert first.mitre_technique_names == ("Exploit Public-Facing Application",)
    assert first.detection_sources == ("Cloud Agent", "Internal Scanner")
    assert first.latest_detection_source == "Cloud Agent"
    assert (first.qid, first.severity, first.status) == (376157, 5, "Active")
    # a detection without the new elements has them empty, never an error
    assert (second.cves, second.qds, second.unique_vuln_id, second.detection_sources) == (
        (),
        None,
        None,
        (),
    )
    assert end.truncation is None  # type: ignore[attr-defined]


def test_the_real_qds_sample_gives_score_severity_and_unique_id(samples_dir: Path) -> None:
    hosts = parse(samples_dir / "detection_qds_factors_warning_mockderived_elastic.xml")[:-1]
    detection = hosts[0].detections[0]  # type: ignore[attr-defined]
    assert (detection.qds, detection.qds_severity) == (35, "LOW")
    assert detection.unique_vuln_id is not None


def test_cve_detection_items_map_to_detections_of_their_qid(data_dir: Path) -> None:
    host, end = parse(data_dir / "cve_detection_handmade_unverified.xml", CVE_DETECTIONS)
    (detection,) = host.detections  # type: ignore[attr-defined]
    assert (detection.qid, detection.cves) == (376157, ("CVE-2021-44228",))
    assert (detection.type, detection.status, detection.times_found) == ("Confirmed", "New", 4)
    assert detection.severity is None  # the CVE endpoint has no SEVERITY
    assert host.dns == "web02.example.org"  # type: ignore[attr-defined]
    assert end.truncation.next_id_min == 203  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("detection_v5_handmade_unverified.xml", CVE_DETECTIONS),
        ("cve_detection_handmade_unverified.xml", DETECTIONS),
    ],
)
def test_a_reply_of_the_other_kind_is_refused(data_dir: Path, name: str, kind: object) -> None:
    parser = DetectionParser(kind=kind)  # type: ignore[arg-type]
    with pytest.raises(QualysResponseError, match="not HOST_LIST"):
        parser.feed((data_dir / name).read_bytes())
        parser.close()
