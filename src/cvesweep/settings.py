"""The one table of settings and how flags, environment, config file and prompt become Settings.

Precedence, highest first: command-line flags, environment variables, the config file,
the defaults below. The password comes only from ``CVESWEEP_QUALYS_PASSWORD``, the config
file (mode 0600) or the interactive prompt, never from a flag, and never appears in
``repr(Settings)`` or in an error message.

The endpoint is ``url`` when given, else ``https://{hostname}:{port}``; when both are given
by different sources, the source of higher precedence wins (a ``--hostname`` flag beats a
``url`` in the config file). Plain ``http`` is accepted only for loopback hosts (the
simulator): anywhere else it would send the password unencrypted.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from cvesweep.config import ConfigFile, ConfigKey, default_config_path, load_config
from cvesweep.errors import ConfigError, InputError
from cvesweep.inputs import parse_hostname, parse_port, parse_truncation_limit, parse_url
from cvesweep.models import SearchMethod
from cvesweep.qualys.auth import AuthMethod
from cvesweep.qualys.client import ClientConfig
from cvesweep.qualys.endpoints import ENDPOINTS, ApiVersions, Endpoint, parse_version

ENV_URL = "CVESWEEP_QUALYS_URL"
ENV_USERNAME = "CVESWEEP_QUALYS_USERNAME"
ENV_PASSWORD = "CVESWEEP_QUALYS_PASSWORD"  # noqa: S105  (a variable name, not a password)
ENV_CLIENT_ID = "CVESWEEP_QUALYS_CLIENT_ID"
ENV_CLIENT_SECRET = "CVESWEEP_QUALYS_CLIENT_SECRET"  # noqa: S105  (a variable name)
ENV_TAXII_PASSWORD = "CVESWEEP_TAXII_PASSWORD"  # noqa: S105  (a variable name)


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One row of the settings table: where a setting may come from and what it means.

    ``kind`` names its converter (``CONVERTERS``); ``toml_types`` the
    types the config file may hold; ``flag`` the CLI option (None: not a flag).
    """

    name: str
    default: object
    help: str
    kind: str
    toml_types: tuple[type, ...]
    flag: str | None = None
    env_var: str | None = None
    config_key: str | None = None
    secret: bool = False


_S, _I, _N, _B = (str,), (int,), (int, float), (bool,)

# read_timeout is the longest silence between two reads, not the length of a call. 300 s:
# Qualys streams detection replies "in batches", with pauses while the next batch is
# prepared (Qualys, "Host List Detection API Best Practices"), and Microsoft's Sentinel
# Qualys connector failed on this endpoint until its timeout went from 20 s to 300 s.

_VERSION_SPECS = tuple(
    SettingSpec(f"{e.value}_version", ENDPOINTS[e].default,
                f"{e.value.replace('_', ' ')} API version ({', '.join(ENDPOINTS[e].versions)})",
                f"{e.value}_version", (str, float, int), None, None, f"qualys.versions.{e.value}")
    for e in Endpoint
)  # fmt: skip

SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("url", None, "Qualys API base URL, e.g. https://qualysapi.qg2.apps.qualys.com "
                "(http only for loopback)", "url", _S, "--url", ENV_URL, "qualys.url"),
    SettingSpec("hostname", None, "Qualys API server name, used as https://HOSTNAME:PORT "
                "when no URL is given", "hostname", _S, "--hostname", None, "qualys.hostname"),
    SettingSpec("port", 443, "Qualys API server port (with --hostname)", "port", _I,
                "--port", None, "qualys.port"),
    SettingSpec("username", None, "Qualys API username", "text", _S, "--username",
                ENV_USERNAME, "qualys.username"),
    SettingSpec("password", None, "Qualys API password (environment, config file or "
                "prompt; never a flag)", "secret", _S, None, ENV_PASSWORD,
                "qualys.password", secret=True),
    SettingSpec("auth", AuthMethod.BASIC, "how to authenticate: basic (HTTP Basic), jwt (a token "
                "from the gateway for the username and password) or oauth-client (a token for "
                "a Qualys API client id and secret)", "auth", _S, "--auth", None, "qualys.auth"),
    SettingSpec("gateway_url", None, "Qualys gateway URL for --auth jwt|oauth-client "
                "(default: derived from the API URL, e.g. https://gateway.qg2.apps.qualys.com)",
                "url", _S, "--gateway-url", None, "qualys.gateway_url"),
    SettingSpec("client_id", None, "Qualys API client id for --auth oauth-client",
                "text", _S, None, ENV_CLIENT_ID, "qualys.client_id"),
    SettingSpec("client_secret", None, "Qualys API client secret for --auth oauth-client "
                "(environment or config file; never a flag)", "secret", _S, None,
                ENV_CLIENT_SECRET, "qualys.client_secret", secret=True),
    SettingSpec("verify_ssl", True, "verify the TLS certificate of Qualys "
                "(--no-verify-ssl turns it off, with a warning)", "bool", _B,
                "--no-verify-ssl", None, "qualys.verify_ssl"),
    SettingSpec("ca_bundle", None, "PEM file of CA certificates to verify Qualys with",
                "file", _S, "--ca-bundle", None, "qualys.ca_bundle"),
    SettingSpec("connect_timeout", 10.0, "seconds to wait for a connection to Qualys",
                "seconds", _N, None, None, "qualys.connect_timeout"),
    SettingSpec("read_timeout", 300.0, "seconds to wait for the next bytes of a Qualys reply",
                "seconds", _N, None, None, "qualys.read_timeout"),
    SettingSpec("retries", 4, "tries in all for a call failing with 5xx, reset or timeout",
                "tries", _I, None, None, "qualys.retries"),
    SettingSpec("wait_budget", 300.0, "seconds a run may spend waiting on Qualys rate and "
                "concurrency limits", "budget", _N, None, None, "qualys.wait_budget"),
    *_VERSION_SPECS,
    SettingSpec("method", SearchMethod.SEARCH_LIST, "how to find a CVE's hosts: search-list (a "
                "temporary QID search list, then the detection API) or cve-detection (the CVE "
                "detection API, no list)", "method", _S, "--method", None, "search.method"),
    SettingSpec("max_parallel", None, "detection calls run at once, 1 to 32 (default: the "
                "subscription's concurrency limit minus one; 1 = serial)", "parallel", _I,
                "--max-parallel", None, "search.max_parallel"),
    SettingSpec("truncation_limit", 1000, "hosts per page of the detection list "
                "(0 = no limit, at most 1,000,000)", "truncation", _I,
                "--truncation-limit", None, "search.truncation_limit"),
    SettingSpec("add_assets", True, "store each vulnerable host as an Asset related to the "
                "CVE, with its Qualys attributes, tags and findings", "bool", _B,
                "--add-assets", None, "library.add_assets"),
    SettingSpec("add_discovered_assets", True, "keep every host found as an Asset with its "
                "identity attributes, even when --no-add-assets", "bool", _B,
                "--add-discovered-assets", None, "library.add_discovered_assets"),
    SettingSpec("tag_cves", True, "add the union of the vulnerable hosts' Qualys tags to "
                "the CVE", "bool", _B, "--tag-cves", None, "library.tag_cves"),
)  # fmt: skip

SETTINGS_BY_NAME: Mapping[str, SettingSpec] = {spec.name: spec for spec in SETTINGS}

# ``cvesweep export taxii``: the TAXII server a push goes to, the [taxii] table of the config
# file. Not Qualys settings, so not fields of Settings (cvesweep.export.taxii_settings).
TAXII_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("taxii_url", None, "URL of the TAXII 2.1 collection a push goes to, "
                "https://HOST/API-ROOT/collections/ID/ (http only for loopback)", "url", _S,
                "--url", None, "taxii.url"),
    SettingSpec("taxii_user", None, "user name at the TAXII server", "text", _S, "--user",
                None, "taxii.user"),
    SettingSpec("taxii_password", None, "password at the TAXII server (environment, config "
                "file or prompt; never a flag)", "secret", _S, None, ENV_TAXII_PASSWORD,
                "taxii.password", secret=True),
)  # fmt: skip

CONFIG_SCHEMA: Mapping[str, ConfigKey] = {
    spec.config_key: ConfigKey(spec.toml_types, spec.secret)
    for spec in (*SETTINGS, *TAXII_SETTINGS)
    if spec.config_key is not None
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything needed to talk to Qualys and page through results, already validated.

    Defaults equal the table's (a test checks it). Exactly one of ``url`` / ``hostname``
    decides the endpoint: :attr:`base_url`.
    """

    username: str
    password: str = field(repr=False)
    url: str | None = None
    hostname: str | None = None
    port: int = 443
    auth: AuthMethod = AuthMethod.BASIC
    gateway_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    verify_ssl: bool = True
    ca_bundle: Path | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    retries: int = 4
    wait_budget: float = 300.0
    detection_version: str = ENDPOINTS[Endpoint.DETECTION].default
    knowledge_base_version: str = ENDPOINTS[Endpoint.KNOWLEDGE_BASE].default
    search_list_version: str = ENDPOINTS[Endpoint.SEARCH_LIST].default
    host_list_version: str = ENDPOINTS[Endpoint.HOST_LIST].default
    cve_detection_version: str = ENDPOINTS[Endpoint.CVE_DETECTION].default
    method: SearchMethod = SearchMethod.SEARCH_LIST
    max_parallel: int | None = None
    truncation_limit: int = 1000
    add_assets: bool = True
    add_discovered_assets: bool = True
    tag_cves: bool = True

    def __post_init__(self) -> None:
        if self.url is None and self.hostname is None:
            raise ConfigError("Settings need a url or a hostname")

    @property
    def base_url(self) -> str:
        """Return the Qualys base URL without a trailing slash.

        It is ``url`` when set, else ``https://HOSTNAME`` (port 443) or
        ``https://HOSTNAME:PORT``.
        """
        if self.url is not None:
            return self.url
        host = f"[{self.hostname}]" if ":" in str(self.hostname) else self.hostname
        return f"https://{host}" if self.port == 443 else f"https://{host}:{self.port}"

    @property
    def versions(self) -> ApiVersions:
        """The API version used for each Qualys endpoint."""
        return ApiVersions(**{e.value: getattr(self, f"{e.value}_version") for e in Endpoint})

    def client_config(self) -> ClientConfig:
        """Return the Qualys HTTP client's configuration for these settings."""
        verify: bool | str = self.verify_ssl
        if self.verify_ssl and self.ca_bundle is not None:
            verify = str(self.ca_bundle)
        return ClientConfig(
            base_url=self.base_url,
            username=self.username,
            password=self.password,
            verify=verify,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries=self.retries,
            wait_budget=self.wait_budget,
            versions=self.versions,
            auth=self.auth,
            gateway_url=self.gateway_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
        )

    def public(self) -> dict[str, object]:
        """Return the settings without secrets, e.g. for a run's audit record."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if not SETTINGS_BY_NAME[f.name].secret
        }


Prompt = Callable[[str], str]


def load_settings(
    *,
    flags: Mapping[str, object],
    environ: Mapping[str, str],
    config_path: Path | None,
    prompt: Prompt | None,
    default_config: Path | None = None,
) -> Settings:
    """Return Settings from flags > environment > config file > defaults, then the prompt.

    ``flags`` maps setting names to values, None meaning "not given". ``config_path`` is
    the ``--config`` file (it must exist); None reads ``default_config`` (default: the user
    config directory), which may be missing. ``prompt`` is asked for the password only when
    no other source gave one (the CLI passes it only when stdin is a terminal).
    Raises InputError for a bad flag value, ConfigError for a bad environment or config
    value and for a missing URL, username or password. Raises ValueError for a flag name
    that is not in the table or is not a flag (a bug in the caller).
    """
    _check_flag_names(flags)
    required = config_path is not None
    path = config_path if config_path is not None else (default_config or default_config_path())
    config = load_config(path, schema=CONFIG_SCHEMA, required=required)
    chosen: dict[str, tuple[int, object]] = {}
    for spec in SETTINGS:
        found = _first_source(spec, flags, environ, config)
        if found is not None:
            chosen[spec.name] = found
    _resolve_endpoint(chosen)
    _require(chosen, path, prompt)
    return Settings(**{name: value for name, (_, value) in chosen.items()})  # type: ignore[arg-type]


def _check_flag_names(flags: Mapping[str, object]) -> None:
    for name in flags:
        spec = SETTINGS_BY_NAME.get(name)
        if spec is None or spec.flag is None:
            raise ValueError(f"{name!r} is not a setting that a flag may give")


def _first_source(
    spec: SettingSpec,
    flags: Mapping[str, object],
    environ: Mapping[str, str],
    config: ConfigFile | None,
) -> tuple[int, object] | None:
    """Return (rank, converted value) from the highest source that gives ``spec``.

    Rank: 3 flag, 2 environment, 1 config file, 0 default; None when there is no value.
    """
    if spec.flag is not None and flags.get(spec.name) is not None:
        return 3, convert(spec.kind, flags[spec.name], Origin(spec.flag, is_flag=True))
    if spec.env_var is not None and environ.get(spec.env_var, "") != "":
        return 2, convert(spec.kind, environ[spec.env_var], Origin(spec.env_var))
    key = spec.config_key
    if config is not None and key is not None and key in config.values:
        return 1, convert(spec.kind, config.values[key], Origin(config.origin(key)))
    return None if spec.default is None else (0, spec.default)


def _resolve_endpoint(chosen: dict[str, tuple[int, object]]) -> None:
    """Keep only the one of url/hostname given by the higher source (url on a tie)."""
    url, hostname = chosen.get("url"), chosen.get("hostname")
    if url is not None and hostname is not None:
        del chosen["hostname" if url[0] >= hostname[0] else "url"]


def _require(chosen: dict[str, tuple[int, object]], path: Path, prompt: Prompt | None) -> None:
    """Check that what the chosen auth method needs was given; prompt for a password."""
    missing = []
    if "url" not in chosen and "hostname" not in chosen:
        missing.append(
            f"the Qualys URL: give --url (or --hostname), set {ENV_URL}, "
            f"or set url in the [qualys] table of {path}"
        )
    if chosen.get("auth", (0, AuthMethod.BASIC))[1] == AuthMethod.OAUTH_CLIENT:
        missing += _missing_client(chosen, path)
        chosen.setdefault("username", (0, ""))
        chosen.setdefault("password", (0, ""))
    else:
        missing += _missing_login(chosen, path, prompt, ask=not missing)
    if missing:
        raise ConfigError("missing " + "; ".join(missing))


def _missing_login(
    chosen: dict[str, tuple[int, object]], path: Path, prompt: Prompt | None, *, ask: bool
) -> list[str]:
    missing = []
    if "username" not in chosen:
        missing.append(
            f"the Qualys username: give --username, set {ENV_USERNAME}, "
            f"or set username in the [qualys] table of {path}"
        )
    if ask and not missing and "password" not in chosen and prompt is not None:
        answer = prompt("Qualys password: ")
        if answer:
            chosen["password"] = (0, answer)
    if "password" not in chosen:
        missing.append(
            f"the Qualys password: set {ENV_PASSWORD}, set password in the [qualys] table "
            f"of {path} (chmod 600), or run in a terminal to be prompted"
        )
    return missing


def _missing_client(chosen: dict[str, tuple[int, object]], path: Path) -> list[str]:
    return [
        f"the Qualys API client {what} for --auth oauth-client: set {env}, or set {key} in "
        f"the [qualys] table of {path}" + (" (chmod 600)" if key == "client_secret" else "")
        for what, env, key in (
            ("id", ENV_CLIENT_ID, "client_id"),
            ("secret", ENV_CLIENT_SECRET, "client_secret"),
        )
        if key not in chosen
    ]


# --- converters: one per ``kind``, each (value, field) -> value, raising InputError(field) ----


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value came from: a flag (``--port``), a variable, or a config key in a file."""

    label: str
    is_flag: bool = False


def convert(kind: str, value: object, origin: Origin) -> object:
    """Return ``value`` checked and converted by the converter of ``kind``.

    Raises InputError for a flag, ConfigError for the environment or a config file; both
    name ``origin`` and never show a secret.
    """
    try:
        return CONVERTERS[kind](value, origin.label)
    except InputError as exc:
        if origin.is_flag:
            raise
        raise ConfigError(exc.message, hint=exc.hint) from None


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(field, "expected a non-empty string")
    return value.strip()


def _secret(value: object, field: str) -> str:
    # Never echo the value: it is a password.
    if not isinstance(value, str) or value == "":
        raise InputError(field, "expected a non-empty string")
    return value


def _tries(value: object, field: str) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise InputError(field, f"{value!r} is not a whole number from 1 to 100")
    return value


def _seconds(value: object, field: str, *, zero_ok: bool) -> float:
    what = "a number of seconds, 0 or more" if zero_ok else "a number of seconds above 0"
    number = -1.0
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero_ok):
        raise InputError(field, f"{value!r} is not {what}")
    return number


def _bool(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    words = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False}  # fmt: skip
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    raise InputError(field, f"{value!r} is not true or false")


def _ca_bundle(value: object, field: str) -> Path:
    path = Path(value).expanduser() if isinstance(value, str | Path) else None
    if path is None or not path.is_file():
        raise InputError(field, f"'{value}' is not an existing file (a PEM CA bundle)")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise InputError(field, f"'{path}' holds no usable PEM CA certificate ({reason})") from None
    return path


def _typed(parse: Callable[..., object], *types: type) -> Callable[[object, str], object]:
    """Wrap an inputs parser so a value of another type is refused rather than crashing."""

    def converter(value: object, field: str) -> object:
        if isinstance(value, bool) or not isinstance(value, types):
            raise InputError(field, f"{value!r} has the wrong type")
        return parse(value, field=field)

    return converter


def _choice(kind: type[AuthMethod] | type[SearchMethod]) -> Callable[[object, str], object]:
    def converter(value: object, field: str) -> object:
        accepted = [member.value for member in kind]
        text = value.strip().lower() if isinstance(value, str) else None
        if text not in accepted:
            raise InputError(field, f"{value!r} is not one of {', '.join(accepted)}")
        return kind(text)

    return converter


def _version(endpoint: Endpoint) -> Callable[[object, str], object]:
    def converter(value: object, field: str) -> object:
        if isinstance(value, float) and not isinstance(value, bool):
            value = f"{value:.1f}"  # TOML: detection = 5.0
        return parse_version(endpoint, value, field=field)

    return converter


def _parallel(value: object, field: str) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 32:
        raise InputError(field, f"{value!r} is not a whole number from 1 to 32")
    return value


CONVERTERS: Mapping[str, Callable[[object, str], object]] = {
    "parallel": _parallel,
    **{f"{e.value}_version": _version(e) for e in Endpoint},
    "auth": _choice(AuthMethod),
    "method": _choice(SearchMethod),
    "text": _text,
    "secret": _secret,
    "url": _typed(parse_url, str),
    "hostname": _typed(parse_hostname, str),
    "port": _typed(parse_port, int, str),
    "truncation": _typed(parse_truncation_limit, int, str),
    "tries": _tries,
    "seconds": lambda value, field: _seconds(value, field, zero_ok=False),
    "budget": lambda value, field: _seconds(value, field, zero_ok=True),
    "bool": _bool,
    "file": _ca_bundle,
}
