"""Reading the TOML config file: its tables, keys and value types, and the mode check.

The file lives at ``<user config dir>/cvesweep/config.toml`` (``platformdirs``; on Linux
``~/.config/cvesweep/config.toml``) unless ``--config PATH`` names another. A missing
default file is fine; a missing explicit file is an error. Example, every key optional::

    [qualys]
    url = "https://qualysapi.qg2.apps.qualys.com"   # or hostname = "..." and port = 443
    username = "acme_ab12"
    password = "..."          # only if the file is chmod 600 (owner-only)
    verify_ssl = true
    ca_bundle = "/etc/ssl/certs/corporate.pem"
    connect_timeout = 10      # seconds
    read_timeout = 300        # seconds
    retries = 4               # tries in all for a call failing with 5xx, reset or timeout
    wait_budget = 300         # seconds spent waiting on Qualys rate/concurrency limits
    auth = "basic"            # or "jwt" (gateway token for username/password), "oauth-client"
    gateway_url = "https://gateway.qg2.apps.qualys.com"   # default: derived from url
    client_id = "..."         # --auth oauth-client (or CVESWEEP_QUALYS_CLIENT_ID)
    client_secret = "..."     # only if the file is chmod 600

    [qualys.versions]         # API version per endpoint, for subscriptions that differ
    detection = "5.0"
    knowledge_base = "4.0"
    search_list = "3.0"
    host_list = "5.0"
    cve_detection = "3.0"

    [search]
    method = "search-list"    # or "cve-detection"
    truncation_limit = 1000   # hosts per page, 0 = no limit

    [library]                 # what a search stores (the --[no-]... flags of search)
    add_assets = true
    add_discovered_assets = true
    tag_cves = true

Which keys exist and their types come from the settings table (:mod:`cvesweep.settings`),
passed in as a schema, so this module knows the file format but not what the values mean.
Unknown keys and wrong types are a ConfigError naming the key. A file holding a secret
(the password) is refused unless only its owner may read or write it (mode 0600 or
stricter); the check is skipped on Windows, where POSIX modes do not exist.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from cvesweep.errors import ConfigError

CONFIG_FILE_NAME = "config.toml"

_TYPE_NAMES: Mapping[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
}


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """What the schema says of one dotted key (``"qualys.port"``): its TOML types, if secret."""

    types: tuple[type, ...]
    secret: bool = False


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """The checked values of one config file, by dotted key (``"qualys.url"``)."""

    path: Path
    values: Mapping[str, object]

    def origin(self, key: str) -> str:
        """Return how to name ``key`` of this file in a message."""
        return f"{key} in {self.path}"


def default_config_path() -> Path:
    """Return the default config file path in the user config directory."""
    return Path(platformdirs.user_config_dir("cvesweep")) / CONFIG_FILE_NAME


def load_config(
    path: Path, *, schema: Mapping[str, ConfigKey], required: bool
) -> ConfigFile | None:
    """Return the checked values of the config file at ``path``.

    Returns None when the file does not exist and ``required`` is false. Raises
    ConfigError when a required file is missing or unreadable, is not valid TOML, holds an
    unknown key or a value of the wrong type, or holds a secret while readable by others.
    """
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            document = tomllib.load(file)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    values = _flatten(document, path, schema)
    _check_mode(path, mode, values, schema)
    return ConfigFile(path=path, values=values)


def _flatten(
    document: Mapping[str, object], path: Path, schema: Mapping[str, ConfigKey]
) -> dict[str, object]:
    tables = sorted({key.partition(".")[0] for key in schema})
    values: dict[str, object] = {}
    for name, table in document.items():
        if name not in tables or not isinstance(table, dict):
            raise ConfigError(
                f"unknown key {name!r} in config file {path}",
                hint=f"the config file has the tables {', '.join(f'[{t}]' for t in tables)}",
            )
        _flatten_table(name, table, path, schema, values)
    return values


def _flatten_table(
    prefix: str,
    table: Mapping[str, object],
    path: Path,
    schema: Mapping[str, ConfigKey],
    values: dict[str, object],
) -> None:
    """Add the keys of ``table`` (and of sub-tables such as ``[qualys.versions]``) to values."""
    for key, value in table.items():
        dotted = f"{prefix}.{key}"
        if isinstance(value, dict) and any(k.startswith(f"{dotted}.") for k in schema):
            _flatten_table(dotted, value, path, schema, values)
            continue
        _check_value(dotted, value, path, schema)
        values[dotted] = value


def _check_value(dotted: str, value: object, path: Path, schema: Mapping[str, ConfigKey]) -> None:
    spec = schema.get(dotted)
    if spec is None:
        table = dotted.rpartition(".")[0]
        known = sorted(k.removeprefix(f"{table}.") for k in schema if k.startswith(f"{table}."))
        raise ConfigError(
            f"unknown key {dotted!r} in config file {path}",
            hint=f"the [{table}] table takes: {', '.join(known)}",
        )
    # TOML booleans are Python bools, and bool is a subclass of int: tell them apart.
    is_bool = isinstance(value, bool)
    if (is_bool and bool not in spec.types) or not isinstance(value, spec.types):
        expected = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in spec.types)
        shown = "a value" if spec.secret else repr(value)
        raise ConfigError(f"{dotted} in config file {path} must be {expected}, not {shown}")


def _check_mode(
    path: Path, mode: int, values: Mapping[str, object], schema: Mapping[str, ConfigKey]
) -> None:
    if os.name == "nt" or not any(schema[key].secret for key in values):
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"config file {path} holds a password but others may read it "
            f"(mode {stat.S_IMODE(mode):04o})",
            hint=f"run: chmod 600 {path}",
        )
