"""Who the simulated hosts are: sites and addresses, OS profiles, names, asset groups and tags.

Addresses are laid out in blocks of :data:`BLOCK` consecutive host indexes; each block is
one /24 of a site (so an IPv4 range maps back to whole blocks without building hosts), and
the site gives the host's site asset group.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cvesweep.simulator.knowledgebase import mix, stream
from cvesweep.simulator.records import AssetGroup, SimTag

BLOCK = 128
_SALT_LAYOUT = 0x4C41


@dataclass(frozen=True, slots=True)
class Site:
    """A network site: its asset group title, IPv4 space, DNS suffix and share of blocks."""

    title: str
    code: str
    network: int
    prefix: int
    domain: str
    slots: int


def _ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


SITES: tuple[Site, ...] = (
    Site("AWS us-east-1", "AWS", _ip("10.48.0.0"), 12, "ec2.internal", 5),
    Site("Datacenter EU", "FRA", _ip("10.16.0.0"), 12, "fra.corp.example.com", 4),
    Site("Datacenter US", "DAL", _ip("10.32.0.0"), 12, "dal.corp.example.com", 3),
    Site("DMZ", "DMZ", _ip("172.16.0.0"), 12, "dmz.example.com", 1),
    Site("Office Network", "HQ", _ip("10.64.0.0"), 12, "office.corp.example.com", 3),
)
AWS, DMZ = 0, 3
# Which site each of 16 consecutive blocks belongs to (interleaved, by the sites' slots).
_SLOT_SITES = (0, 1, 2, 4, 0, 1, 0, 2, 4, 1, 0, 3, 2, 4, 0, 1)
_SLOT_RANKS = tuple(_SLOT_SITES[:slot].count(site) for slot, site in enumerate(_SLOT_SITES))


@dataclass(frozen=True, slots=True)
class Profile:
    """A kind of host: OS family and role, OS strings, tracking methods, service names.

    ``categories`` are the distribution-specific KB categories whose QIDs fit this profile
    (an Ubuntu host gets "Ubuntu" patch QIDs, never "RedHat" ones).
    """

    family: str
    role: str
    weight: int
    os_names: tuple[str, ...]
    tracking: tuple[str, ...]
    apps: tuple[str, ...]
    categories: frozenset[str] = frozenset()


DISTRO_CATEGORIES = frozenset({"Ubuntu", "Amazon Linux", "RedHat", "Debian"})
_LINUX_APPS = ("app", "web", "db", "api", "kafka", "es", "redis", "jenkins", "git", "vault",
               "k8s", "mq", "ldap", "mail", "proxy", "nfs", "backup", "grafana")  # fmt: skip
_LINUX_TRACKING = ("IP", "IP", "DNS", "AGENT")

PROFILES: tuple[Profile, ...] = (
    Profile("windows", "server", 22,
            ("Windows 2016", "Windows 2019", "Windows 2008 R2 Enterprise Service Pack 1",
             "Windows Server 2019 Datacenter 64 bit Edition Version 1809",
             "Windows Server 2022 Standard 64 bit Edition Version 21H2",
             "Windows Server 2003 R2 64 bit Edition Service Pack 2"),
            ("IP", "IP", "NETBIOS", "AGENT", "DNS"),
            ("SQL", "WEB", "APP", "DC", "FS", "EXCH", "RDS", "CTX", "SCCM", "ADFS", "PRN", "BKP")),
    Profile("windows", "workstation", 25,
            ("Windows 10", "Windows 10 Enterprise 64 bit Edition Version 21H2",
             "Windows 10 Pro 64 bit Edition Version 22H2",
             "Windows 11 Enterprise 64 bit Edition Version 23H2",
             "Windows 7 Professional 64 bit Edition Service Pack 1"),
            ("AGENT", "AGENT", "NETBIOS", "IP"), ("WS", "LT")),
    Profile("linux", "server", 12, ("Amazon Linux", "Amazon Linux 2", "Amazon Linux 2023"),
            _LINUX_TRACKING, _LINUX_APPS, frozenset({"Amazon Linux"})),
    Profile("linux", "server", 10,
            ("Ubuntu Linux 16.04.6", "Ubuntu Linux 18.04", "Ubuntu Linux 22.04",
             "Ubuntu / Linux 4.x"), _LINUX_TRACKING, _LINUX_APPS, frozenset({"Ubuntu"})),
    Profile("linux", "server", 8,
            ("Red Hat Enterprise Linux Server 7.9", "Red Hat Enterprise Linux 8.8",
             "CentOS Linux 7.9.2009"), _LINUX_TRACKING, _LINUX_APPS, frozenset({"RedHat"})),
    Profile("linux", "server", 5, ("Debian GNU/Linux 11", "Linux 3.13", "Linux 2.6"),
            _LINUX_TRACKING, _LINUX_APPS, frozenset({"Debian"})),
    Profile("network", "device", 8,
            ("Cisco IOS XE 16.9.4", "Cisco IOS 15.2(4)M", "Cisco Adaptive Security Appliance 9.8",
             "FortiOS 6.4.9", "Juniper JUNOS 18.4R3", "F5 Networks Big-IP"),
            ("IP", "IP", "DNS"), ("sw", "rtr", "fw", "lb", "vpn")),
)  # fmt: skip
UBUNTU_PROFILE = 3

_GROUP_TITLES = (*(site.title for site in SITES), "Servers", "Workstations")
ROLE_GROUPS = {"server": len(SITES), "workstation": len(SITES) + 1}
TAG_NAMES = ("Production", "Development", "PCI", "Internet Facing", "Windows Servers",
             "Linux Servers", "Cloud Agent", "Network Devices")  # fmt: skip
_PRODUCTION, _DEVELOPMENT, _PCI, _INTERNET, _WINDOWS, _LINUX, _AGENT, _NETWORK = range(8)


def _ascending_ids(seed: int, salt: int, count: int, base: int) -> list[int]:
    start = base + mix(seed, salt) % base
    return [start + 11 * k + mix(seed, salt, k) % 7 for k in range(count)]


def asset_groups(seed: int) -> tuple[AssetGroup, ...]:
    """Return the subscription's asset groups (one per site, plus Servers and Workstations)."""
    ids = _ascending_ids(seed, 0x4147, len(_GROUP_TITLES), 1_000_000)
    return tuple(AssetGroup(gid, title) for gid, title in zip(ids, _GROUP_TITLES, strict=True))


def tags(seed: int) -> tuple[SimTag, ...]:
    """Return the subscription's Qualys tags."""
    ids = _ascending_ids(seed, 0x5447, len(TAG_NAMES), 10_000_000)
    return tuple(SimTag(tid, name) for tid, name in zip(ids, TAG_NAMES, strict=True))


class Layout:
    """The seed's address plan: which site and /24 each block of host indexes gets."""

    __slots__ = ("_offsets", "_seed", "_shift", "_spin_key")

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._spin_key = mix(seed, _SALT_LAYOUT, -1)
        self._shift = mix(seed, _SALT_LAYOUT) % 16
        self._offsets = tuple(mix(seed, _SALT_LAYOUT, k) % 4096 for k in range(len(SITES)))

    def site(self, block: int) -> int:
        """Return the index in :data:`SITES` of the site of ``block``."""
        return _SLOT_SITES[(block + self._shift) % 16]

    def network(self, block: int) -> int:
        """Return the first address (as an int) of the /24 of ``block``."""
        k = block + self._shift
        slot = k % 16
        number = _SLOT_SITES[slot]
        site = SITES[number]
        capacity = 1 << (24 - site.prefix)
        ordinal = (k // 16) * site.slots + _SLOT_RANKS[slot] + self._offsets[number]
        return site.network + (ordinal % capacity) * 256

    def spin(self, block: int) -> int:
        """Return the per-block constant that scatters host numbers over the /24."""
        return stream(self._spin_key, block) % 254

    @staticmethod
    def last_octet(position: int, spin: int) -> int:
        """Return the last octet (1..254) of the host at ``position`` in its block."""
        # 97 is coprime with 254, so the BLOCK positions of a block get distinct octets.
        return 1 + (position * 97 + spin) % 254

    def ipv6(self, block: int, position: int) -> str:
        """Return a unique-local IPv6 address for the host at ``position`` of ``block``."""
        value = (0xFD5E << 112) | ((self._seed & 0xFFFF) << 80) | (block << 16) | (position + 1)
        return ipaddress.IPv6Address(value).compressed


def ipv4_text(value: int) -> str:
    """Return the dotted form of the IPv4 address ``value``."""
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def host_names(
    profile: Profile, app: str, site: int, index: int, ip: str | None, bits: int
) -> tuple[str | None, str | None]:
    """Return (dns, netbios) of a host; NetBIOS (upper-case, <= 15 chars) only on Windows."""
    netbios = None
    if profile.family == "windows":
        netbios = f"{SITES[site].code}-{app}{index:06d}"[:15]
    if site == AWS:
        label = f"ip-{ip.replace('.', '-')}" if ip else f"i-0{bits & 0xFFFFFFFFFFFFFFF:015x}"
        # Real AWS hosts come both with and without the ".ec2.internal" suffix.
        return (label if bits >> 62 == 0 else f"{label}.ec2.internal"), netbios
    if netbios is not None:
        return f"{netbios.lower()}.{SITES[site].domain}", netbios
    return f"{app}-{index:06d}.{SITES[site].domain}", netbios


def host_tag_numbers(profile: Profile, site: int, tracking: str, bits: int) -> list[int]:
    """Return the positions in :data:`TAG_NAMES` of a host's tags (0 to 4 of them)."""
    numbers: list[int] = []
    env = bits % 10
    if env < 6:
        numbers.append(_PRODUCTION)
    elif env < 8:
        numbers.append(_DEVELOPMENT)
    if (bits >> 8) % 100 < 8:
        numbers.append(_PCI)
    if site == DMZ or (bits >> 16) % 100 < 2:
        numbers.append(_INTERNET)
    if profile.role == "server":
        numbers.append(_WINDOWS if profile.family == "windows" else _LINUX)
    elif profile.role == "device":
        numbers.append(_NETWORK)
    if tracking == "AGENT":
        numbers.append(_AGENT)
    return numbers[:4]
