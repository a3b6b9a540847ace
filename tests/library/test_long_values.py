"""Values Qualys gives are stored whole on every backend, however long: a 300-character tag
and a 1,000-character OS string as Qualys sent them, and values past PostgreSQL's B-tree
entry size (about 2,700 bytes), which keys over text would refuse."""

from __future__ import annotations

import random
import string
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from cvesweep.library import Library, queries
from cvesweep.models import Host
from cvesweep.qualys.xml import parse_detection_file
from tests.library.conftest import ingest

TAG_300 = "Business Unit / " + "".join(f"{chr(0x410 + i % 32)}{i % 10}" for i in range(142))
OS_1000 = "Linux 5.15.0-1051-azure " + "x" * 900 + " (" + "build-" * 12 + "end)"
# Random text does not compress: a PostgreSQL B-tree entry over it could not exceed ~2.7 kB.
NOISE = random.Random(10).choices(string.ascii_letters + string.digits, k=6000)
TAG_6000 = "".join(NOISE)
HOSTNAME_5000 = "".join(reversed(NOISE))[:4990] + ".corp"


def detection_reply(tmp_path: Path, *, tags: list[str], os: str, dns: str) -> Path:
    """A detection reply as Qualys sends it, holding one host with these values."""
    names = "".join(f"<TAG><TAG_ID>{700 + n}</TAG_ID><NAME><![CDATA[{t}]]></NAME></TAG>"
                    for n, t in enumerate(tags))  # fmt: skip
    xml = f"""<?xml version="1.0" encoding="UTF-8" ?>
<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>2026-09-23T06:05:11Z</DATETIME><HOST_LIST>
<HOST><ID>97603056</ID><IP>10.63.27.23</IP><TRACKING_METHOD>AGENT</TRACKING_METHOD>
<OS><![CDATA[{os}]]></OS><DNS>{escape(dns)}</DNS>
<LAST_SCAN_DATETIME>2026-09-23T06:05:11Z</LAST_SCAN_DATETIME><TAGS>{names}</TAGS>
<DETECTION_LIST><DETECTION><QID>730297</QID><TYPE>Confirmed</TYPE><SEVERITY>5</SEVERITY>
<STATUS>Active</STATUS><LAST_FOUND_DATETIME>2026-09-23T06:01:00Z</LAST_FOUND_DATETIME>
</DETECTION></DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>"""
    path = tmp_path / "detections.xml"
    path.write_text(xml, encoding="utf-8")
    return path


def parsed(path: Path) -> list[Host]:
    return list(parse_detection_file(path))


@pytest.mark.parametrize(
    ("tags", "os", "dns"),
    [
        ([TAG_300, "Production"], OS_1000, "ip-10-63-27-23.ec2.internal"),
        ([TAG_6000], OS_1000 * 5, HOSTNAME_5000),
    ],
    ids=["300-tag-1000-os", "beyond-btree-entries"],
)
def test_long_qualys_values_are_stored_whole(
    library: Library, tmp_path: Path, tags: list[str], os: str, dns: str
) -> None:
    assert len(TAG_300) == 300 and len(OS_1000) > 1000
    hosts = parsed(detection_reply(tmp_path, tags=tags, os=os, dns=dns))
    assert hosts[0].os == os and [t.name for t in hosts[0].tags] == tags  # as Qualys sent
    stats = ingest(library, hosts)
    assert stats.assets_created == 1
    detail = queries.object_detail(library.engine, "10.63.27.23")
    attributes = {a.name: a.value for a in detail.attributes}
    assert attributes["Operating System"] == os and attributes["Hostname"] == dns
    assert sorted(detail.tags) == sorted(tags)
    [summary] = queries.cve_summaries(library.engine)
    assert sorted(summary.tags) == sorted(tags)
    again = ingest(library, hosts)  # the keys over those values find them again
    assert (again.assets_updated, again.attributes_added, again.tags_added) == (0, 0, 0)


def test_a_long_tag_filters_the_assets(library: Library, tmp_path: Path) -> None:
    hosts = parsed(detection_reply(tmp_path, tags=[TAG_6000], os="Linux", dns="h.example"))
    ingest(library, hosts)
    found = queries.assets(library.engine, tag=TAG_6000.upper())
    assert [asset.value for asset in found] == ["10.63.27.23"]
