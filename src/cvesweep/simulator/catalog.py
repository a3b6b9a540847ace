"""The hand-written part of the simulated knowledge base: well-known QIDs and how they spread.

Titles, categories and CVE mappings of the real-looking entries come from the recorded
Qualys replies in ``tests/data/qualys-samples`` (QIDs 6, 11, 10052, 38xxx, 45017, 150xxx,
316760) or from public advisories (Log4Shell, MS17-010, PrintNightmare, Heartbleed, Sweet32,
xz). Everything here is static; the seed-dependent filler lives in ``knowledgebase.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

IG = "Information Gathered"
VULN = "Vulnerability"
POTENTIAL = "Potential Vulnerability"
EITHER = "Vulnerability or Potential Vulnerability"

WINDOWS = frozenset({"windows"})
LINUX = frozenset({"linux"})
NETWORK = frozenset({"network"})
SERVERS = frozenset({"windows", "linux"})
ANY = frozenset({"windows", "linux", "network"})
NOWHERE: frozenset[str] = frozenset()

LOG4SHELL = "CVE-2021-44228"
VENDOR_EXAMPLE = "CVE-2019-17053"
# ICMP timestamp disclosure: Qualys reports it as an "Information Gathered" QID.
IG_ONLY_CVE = "CVE-1999-0524"
NO_QID_CVE = "CVE-2025-99999"


@dataclass(frozen=True, slots=True)
class Probe:
    """How a QID shows up on hosts: where it can be detected, on which ports, with what text.

    ``families`` lists the OS families ("windows", "linux", "network") that can carry it
    (empty: never detected, KB only). ``weight`` is its popularity among ordinary QIDs (0:
    only through a :class:`Spread`). No ports means an authenticated check without PORT.
    ``results`` may hold ``{ip}``, ``{dns}``, ``{os}`` and ``{duration}`` placeholders.
    """

    families: frozenset[str]
    weight: int = 0
    ports: tuple[int, ...] = ()
    protocol: str = "tcp"
    results: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """One hand-written knowledge-base entry and its probe."""

    qid: int
    vuln_type: str
    severity: int
    title: str
    category: str
    cves: tuple[str, ...]
    published: str
    probe: Probe
    patchable: bool = True


@dataclass(frozen=True, slots=True)
class Spread:
    """A group of QIDs present on a share of the hosts of some families and roles.

    A host picked (probability ``rate``) gets one QID of the group, and a second one with
    probability ``pair_rate`` (so a host may be vulnerable to one CVE through two QIDs).
    Pattern residues in ``forced`` always get it, open, on a host of a fitting family (so
    even a small fleet shows the CVE).
    """

    qids: tuple[int, ...]
    rate: float
    families: frozenset[str] = ANY
    roles: frozenset[str] = frozenset({"server", "workstation", "device"})
    pair_rate: float = 0.0
    forced: tuple[int, ...] = ()


_SSH = "Type\tName\nkey exchange\tdiffie-hellman-group1-sha1\ncipher\t3des-cbc"
_RPC = "Name\tProgram\tVersion\tProtocol\tPort\nportmap/rpcbind\t100000\t2-4\ttcp\t111"
_CERT_CN = "Certificate #0 CN={dns} and IP ({ip}) don't match"
_L4J_JAR = "/opt/app/lib/log4j-core-2.14.1.jar found\nImplementation-Version: 2.14.1"
_L4J_JNDI = "Received DNS callback for JNDI lookup sent in header X-Api-Version"
_XSS = "X-XSS-Protection HTTP Header missing.\nX-Content-Type-Options HTTP Header missing."
_DES = "TLSv1.2\tDES-CBC3-SHA\tRSA\tRSA"
_HEARTBEAT = "TLS heartbeat response leaked 16384 bytes"
_SIG = "Certificate #0 CN={dns} unable to get local issuer certificate"
_EXPIRY = "The certificate will expire within a month"
_RC4 = "CIPHER\tKEY-EXCHANGE\tAUTHENTICATION\nRC4-SHA\tRSA\tRSA"
_KERNEL = "Package\tInstalled Version\tRequired Version\nlinux-image\t4.15.0-65.74\t4.15.0-66.75"
_WEB = frozenset({"server"})

# fmt: off
ENTRIES: tuple[Entry, ...] = (
    Entry(6, IG, 1, "DNS Host Name", "Information gathering", (), "1999-01-01",
          Probe(ANY, results="IP address\tHost name\n{ip}\t{dns}")),
    Entry(11, VULN, 2, "Hidden RPC Services", "RPC", (), "1999-01-01",
          Probe(LINUX, ports=(111,), results=_RPC), patchable=False),
    Entry(10052, VULN, 3, "Vtecrm Vtenext Multiple Security Vulnerabilities", "CGI",
          ("CVE-2020-10227", "CVE-2020-10228", "CVE-2020-10229"), "2021-01-21",
          Probe(LINUX, ports=(443, 80), results="vtenext 19 CE detected"), patchable=False),
    Entry(11827, VULN, 2, "HTTP Security Header Not Detected", "CGI", (), "2017-09-13",
          Probe(ANY, ports=(443, 80), results=_XSS)),
    Entry(38170, VULN, 2, "SSL Certificate - Subject Common Name Does Not Match Server FQDN",
          "General remote services", (), "2010-07-15",
          Probe(ANY, ports=(443, 8443, 3389), results=_CERT_CN)),
    Entry(38173, VULN, 2, "SSL Certificate - Signature Verification Failed Vulnerability",
          "General remote services", (), "2010-07-15",
          Probe(ANY, ports=(443, 3389), results=_SIG)),
    Entry(38174, VULN, 1, "SSL Certificate - Will Expire Soon", "General remote services", (),
          "2010-07-15", Probe(ANY, ports=(443, 8443), results=_EXPIRY)),
    Entry(38601, VULN, 3, "SSL/TLS use of weak RC4 cipher", "General remote services",
          ("CVE-2013-2566", "CVE-2015-2808"), "2013-03-14",
          Probe(ANY, ports=(443, 3389), results=_RC4)),
    Entry(38628, VULN, 3, "SSL/TLS Server supports TLSv1.0", "General remote services", (),
          "2015-11-03", Probe(ANY, ports=(443, 3389, 8443), results="TLSv1.0 is supported")),
    Entry(38657, VULN, 3, "Birthday attacks against TLS ciphers with 64bit block size "
          "vulnerability (Sweet32)", "General remote services", ("CVE-2016-2183", "CVE-2016-6329"),
          "2016-08-29", Probe(ANY, ports=(443, 3389, 8443), results=_DES)),
    Entry(38739, VULN, 2, "Deprecated SSH Cryptographic Settings", "General remote services", (),
          "2018-12-18", Probe(SERVERS | NETWORK, ports=(22,), results=_SSH)),
    Entry(42430, VULN, 5, "OpenSSL Memory Leak Vulnerability (Heartbleed Bug)",
          "General remote services", ("CVE-2014-0160",), "2014-04-08",
          Probe(LINUX | NETWORK, ports=(443,), results=_HEARTBEAT)),
    Entry(45017, IG, 2, "Operating System Detected", "Information gathering", (), "2004-09-29",
          Probe(ANY, results="Operating System\tTechnique\n{os}\tTCP/IP Fingerprint")),
    Entry(45038, IG, 1, "Host Scan Time - Scanner", "Information gathering", (), "2008-04-10",
          Probe(ANY, results="Scan duration: {duration} seconds")),
    Entry(45039, IG, 1, "Host Names Found", "Information gathering", (), "2008-04-10",
          Probe(ANY, results="Host Name\tSource\n{dns}\tFQDN")),
    Entry(45515, POTENTIAL, 4, "Apache Log4j Remote Code Execution (RCE) Vulnerability "
          "(Log4Shell) (Software Inventory Check)", "Local", (LOG4SHELL,), "2021-12-11",
          Probe(SERVERS, results="log4j-core-2.11.0.jar found in /usr/share/elasticsearch/lib")),
    Entry(82003, IG, 1, "ICMP Timestamp Request", "TCP/IP", (IG_ONLY_CVE,), "1999-01-01",
          Probe(ANY, results="Timestamp of host (network byte ordering): 14:41:07 GMT")),
    Entry(82023, IG, 1, "Open TCP Services List", "TCP/IP", (), "2003-04-03",
          Probe(ANY, results="Port\tIANA Assigned Ports/Services\n22\tssh\n443\thttps")),
    Entry(91345, VULN, 5, "Microsoft SMB Server Security Update (MS17-010)", "Windows",
          tuple(f"CVE-2017-{n:04d}" for n in range(143, 149)), "2017-03-14",
          Probe(WINDOWS, results="%windir%\\system32\\drivers\\srv.sys Version is 6.1.7601.23642")),
    Entry(91785, VULN, 5, "Microsoft Windows Print Spooler Remote Code Execution Vulnerability "
          "(PrintNightmare)", "Windows", ("CVE-2021-1675", "CVE-2021-34527"), "2021-07-02",
          Probe(WINDOWS, results="%windir%\\system32\\spoolsv.exe Version is 10.0.17763.1971")),
    Entry(150009, IG, 1, "Links Crawled", "Web Application", (), "2011-03-14", Probe(NOWHERE)),
    Entry(150208, IG, 2, "Missing header: Referrer-Policy", "Web Application", (), "2019-02-25",
          Probe(NOWHERE)),
    Entry(150272, POTENTIAL, 3, "PHP 7 Multiple Vulnerabilities", "Web Application",
          ("CVE-2019-11041", "CVE-2019-11042"), "2019-08-05", Probe(NOWHERE)),
    Entry(150400, POTENTIAL, 3, "Apache HTTP Server HTTP/2 Method injection (CVE-2021-33193)",
          "Web Application", ("CVE-2021-33193",), "2021-10-06", Probe(NOWHERE)),
    Entry(150440, VULN, 5, "Apache Log4j Remote Code Execution (RCE) Vulnerability (Log4Shell)",
          "Web Application", (LOG4SHELL,), "2021-12-10", Probe(NOWHERE)),
    Entry(150461, POTENTIAL, 4, "Apache HTTP Server mod_proxy Server Side Request Forgery (SSRF) "
          "Vulnerability (CVE-2021-40438)", "Web Application", ("CVE-2021-40438",), "2021-10-06",
          Probe(NOWHERE)),
    Entry(180224, VULN, 5, "Debian Security Update for xz-utils (CVE-2024-3094)", "Debian",
          ("CVE-2024-3094",), "2024-03-29",
          Probe(LINUX, results="Package\tInstalled Version\nxz-utils\t5.6.1-1")),
    Entry(197702, VULN, 4, "Ubuntu Security Notification for Linux kernel Vulnerabilities",
          "Ubuntu", tuple(f"CVE-2019-{n}" for n in range(17052, 17057)), "2019-11-13",
          Probe(LINUX, results=_KERNEL)),
    Entry(316760, EITHER, 3, "Cisco IOS XE Software Command Injection Vulnerability "
          "(cisco-sa-iosxe-cmdinj-2MzhjM6K)", "Cisco", ("CVE-2020-3403",), "2020-10-07",
          Probe(NETWORK, ports=(22,), results="Cisco IOS XE Software, Version 16.9.4")),
    Entry(351734, VULN, 4, "Amazon Linux Security Advisory for kernel", "Amazon Linux",
          ("CVE-2019-17053", "CVE-2019-17055"), "2019-11-20",
          Probe(LINUX, results="Package\tInstalled Version\nkernel\t4.14.138-114.102.amzn2")),
    Entry(376157, VULN, 5, "Apache Log4j Remote Code Execution (RCE) Vulnerability (Log4Shell)",
          "Local", (LOG4SHELL, "CVE-2021-45046"), "2021-12-10", Probe(SERVERS, results=_L4J_JAR)),
    Entry(376160, VULN, 4, "Apache Log4j 1.2 JMSAppender Remote Code Execution (RCE) "
          "Vulnerability (CVE-2021-4104)", "Local", ("CVE-2021-4104",), "2021-12-14",
          Probe(SERVERS, weight=1, results="/opt/legacy/lib/log4j-1.2.17.jar found")),
    Entry(376187, VULN, 4, "Apache Log4j Remote Code Execution (RCE) Vulnerability "
          "(CVE-2021-45046)", "Local", ("CVE-2021-45046",), "2021-12-15",
          Probe(SERVERS, results="/opt/app/lib/log4j-core-2.15.0.jar found")),
    Entry(379548, VULN, 5, "XZ Utils Backdoor Vulnerability (CVE-2024-3094)", "Local",
          ("CVE-2024-3094",), "2024-03-30",
          Probe(LINUX, results="/usr/lib/x86_64-linux-gnu/liblzma.so.5.6.0 found")),
    Entry(730297, EITHER, 5, "Apache Log4j Remote Code Execution (RCE) Vulnerability "
          "(Log4Shell) (Unauthenticated Check)", "General remote services", (LOG4SHELL,),
          "2021-12-10", Probe(SERVERS, ports=(8080, 443, 8443), results=_L4J_JNDI)),
)
# fmt: on

# Spreads are drawn in this order for every host pattern; rates are per eligible host.
SPREADS: tuple[Spread, ...] = (
    Spread((45017,), 1.0),
    Spread((45038,), 0.97),
    Spread((6,), 0.9),
    Spread((45039,), 0.3),
    Spread((82023,), 0.4),
    Spread((82003,), 0.25),
    Spread((38739,), 0.3),
    Spread((11827,), 0.25),
    Spread((38170,), 0.15),
    Spread((38628,), 0.2),
    Spread((38174,), 0.06),
    Spread((38173,), 0.05),
    Spread((38601,), 0.04),
    Spread((11,), 0.1),
    Spread((376157, 730297, 45515), 0.17, SERVERS, _WEB, pair_rate=0.35),
    Spread((376187,), 0.05, SERVERS, _WEB),
    Spread((38657,), 0.08),
    Spread((91785,), 0.10, WINDOWS),
    Spread((91345,), 0.06, WINDOWS),
    Spread((42430,), 0.04, LINUX | NETWORK),
    Spread((379548, 180224), 0.05, LINUX, pair_rate=0.4),
    Spread((197702, 351734), 0.025, LINUX, forced=(2, 41, 137)),
    Spread((316760,), 0.3, NETWORK),
    Spread((10052,), 0.01, LINUX, _WEB),
)


@dataclass(frozen=True, slots=True)
class Subject:
    """A product a filler QID is about; category, ports and families default to its kind's."""

    name: str
    category: str = ""
    ports: tuple[int, ...] = ()
    families: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Kind:
    """A family of filler QIDs: how many, where, and how their titles read.

    ``title`` and ``results`` are ``str.format`` templates over subject, year, month, n
    (an advisory number in ``number_range``), version, issue and slug.
    """

    count: int
    families: frozenset[str]
    category: str
    qid_range: tuple[int, int]
    subjects: tuple[Subject, ...]
    title: str
    results: str
    vuln_types: tuple[str, ...] = (VULN,)
    severities: tuple[int, ...] = (2, 3, 3, 4, 4, 5)
    number_range: tuple[int, int] = (1000, 9999)
    cve_count: tuple[int, int] = (1, 4)


def _subjects(*names: str) -> tuple[Subject, ...]:
    return tuple(Subject(name) for name in names)


_PACKAGES = _subjects(
    "openssl",
    "curl",
    "glibc",
    "sudo",
    "kernel",
    "openssh",
    "libxml2",
    "python3",
    "systemd",
    "vim",
    "git",
    "nss",
    "bind",
    "expat",
)
_PKG_RESULTS = "Package\tInstalled Version\tRequired Version\n{subject}\t{version}\t{version}-1"
_KB_RESULTS = "KB50{n} is not installed"
_SERVICES = (
    Subject("OpenSSH", "General remote services", (22,), SERVERS),
    Subject("Apache HTTP Server", "Web server", (443, 80), LINUX),
    Subject("nginx", "Web server", (443, 80), LINUX),
    Subject("Apache Tomcat", "Web server", (8080, 8443), SERVERS),
    Subject("Microsoft IIS", "Web server", (443, 80), WINDOWS),
    Subject("ISC BIND", "DNS and BIND", (53,), LINUX),
    Subject("Samba", "SMB / NETBIOS", (445,), LINUX),
    Subject("Oracle MySQL", "Database", (3306,), LINUX),
    Subject("PostgreSQL", "Database", (5432,), LINUX),
    Subject("Microsoft SQL Server", "Database", (1433,), WINDOWS),
    Subject("Exim", "Mail services", (25,), LINUX),
    Subject("Net-SNMP", "SNMP", (161,), LINUX | NETWORK),
)
_DEVICES = (
    Subject("Cisco IOS XE Software", "Cisco"),
    Subject("Cisco ASA Software", "Cisco"),
    Subject("Fortinet FortiOS", "Firewall"),
    Subject("Juniper Junos OS", "Hardware"),
    Subject("F5 BIG-IP", "Hardware"),
)

# fmt: off
KINDS: tuple[Kind, ...] = (
    Kind(40, WINDOWS, "Windows", (91600, 92199),
         _subjects("Windows", "Windows Kernel", ".NET Framework", "Windows SMB",
                   "Windows Remote Desktop", "Internet Explorer", "Windows Graphics Component"),
         "Microsoft {subject} Security Update for {month} {year}", _KB_RESULTS,
         cve_count=(2, 6)),
    Kind(12, WINDOWS, "Office Application", (110300, 110499),
         _subjects("Office", "Outlook", "Excel", "Word"),
         "Microsoft {subject} Security Update for {month} {year}", _KB_RESULTS),
    Kind(20, WINDOWS, "Local", (376200, 380499),
         _subjects("Google Chrome", "Mozilla Firefox", "Oracle Java SE", "Adobe Acrobat Reader",
                   "7-Zip", "Notepad++", "Zoom Client"),
         "{subject} Prior to {version} Multiple Vulnerabilities",
         "{subject} version {version} detected", cve_count=(1, 6)),
    Kind(35, LINUX, "Ubuntu", (197800, 199599), _PACKAGES,
         "Ubuntu Security Notification for {subject} Vulnerabilities (USN-{n}-1)", _PKG_RESULTS,
         number_range=(4000, 7200)),
    Kind(30, LINUX, "Amazon Linux", (350100, 353899), _PACKAGES,
         "Amazon Linux Security Advisory for {subject}: ALAS2-{year}-{n}", _PKG_RESULTS),
    Kind(28, LINUX, "RedHat", (239100, 241899), _PACKAGES,
         "Red Hat Update for {subject} (RHSA-{year}:{n})", _PKG_RESULTS),
    Kind(18, LINUX, "Debian", (178100, 179999), _PACKAGES,
         "Debian Security Update for {subject} (DSA {n}-1)", _PKG_RESULTS),
    Kind(40, SERVERS, "General remote services", (38500, 38999), _SERVICES,
         "{subject} Prior to {version} {issue} Vulnerability",
         "{subject} version {version} detected", vuln_types=(POTENTIAL, EITHER, VULN),
         cve_count=(0, 3)),
    Kind(20, NETWORK, "Cisco", (316000, 317999), _DEVICES,
         "{subject} {issue} Vulnerability (sa-{slug})", "{subject} Version {version}",
         vuln_types=(EITHER, VULN), cve_count=(1, 2)),
)
# fmt: on
