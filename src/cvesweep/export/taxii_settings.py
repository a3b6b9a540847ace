"""Where a TAXII push goes and with which login: flags > environment > config file > prompt.

The rows are :data:`cvesweep.settings.TAXII_SETTINGS` (the ``[taxii]`` table of the config
file: ``url``, ``user``, ``password``). As for Qualys, the password comes only from
``CVESWEEP_TAXII_PASSWORD``, the config file (refused unless mode 0600) or the prompt,
never from a flag, and never appears in a message or a repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cvesweep.config import ConfigFile, default_config_path, load_config
from cvesweep.errors import ConfigError
from cvesweep.export.taxii_push import collection_url
from cvesweep.settings import (
    CONFIG_SCHEMA,
    ENV_TAXII_PASSWORD,
    TAXII_SETTINGS,
    Origin,
    Prompt,
    SettingSpec,
    convert,
)


@dataclass(frozen=True, slots=True)
class TaxiiLogin:
    """The collection URL (ending in ``/``) and the login; no user means no authentication."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)


def load_taxii_login(
    *,
    flags: Mapping[str, str | None],
    environ: Mapping[str, str],
    config_path: Path | None,
    prompt: Prompt | None,
    default_config: Path | None = None,
) -> TaxiiLogin:
    """Return the TAXII login from ``flags`` (``url``, ``user``), the environment, the config
    file (``config_path``, which must exist, else ``default_config``, which may not) and,
    for a user without a password, ``prompt``.

    Raises InputError for a bad flag, ConfigError for a bad or missing value elsewhere.
    """
    path = config_path if config_path is not None else (default_config or default_config_path())
    config = load_config(path, schema=CONFIG_SCHEMA, required=config_path is not None)
    found = {spec.name: _value(spec, flags, environ, config) for spec in TAXII_SETTINGS}
    url, user, password = found["taxii_url"], found["taxii_user"], found["taxii_password"]
    if url is None:
        raise ConfigError(f"missing the TAXII collection URL: give --url, or set url in the "
                          f"[taxii] table of {path}")  # fmt: skip
    if user is None and password is not None:
        raise ConfigError(f"a TAXII password is set but no user: give --user, or set user in "
                          f"the [taxii] table of {path}")  # fmt: skip
    if user is not None and password is None and prompt is not None:
        password = prompt(f"TAXII password for {user}: ") or None
    if user is not None and password is None:
        raise ConfigError(
            f"missing the TAXII password for {user}: set {ENV_TAXII_PASSWORD}, set password "
            f"in the [taxii] table of {path} (chmod 600), or run in a terminal to be prompted"
        )
    return TaxiiLogin(collection_url(url, found_in="--url"), user, password)


def _value(
    spec: SettingSpec,
    flags: Mapping[str, str | None],
    environ: Mapping[str, str],
    config: ConfigFile | None,
) -> str | None:
    """The value of ``spec`` from the highest source that gives it, converted; or None."""
    flag = flags.get(spec.name.removeprefix("taxii_"))
    if spec.flag is not None and flag is not None:
        return str(convert(spec.kind, flag, Origin(spec.flag, is_flag=True)))
    if spec.env_var is not None and environ.get(spec.env_var, "") != "":
        return str(convert(spec.kind, environ[spec.env_var], Origin(spec.env_var)))
    key = spec.config_key
    if config is not None and key is not None and key in config.values:
        return str(convert(spec.kind, config.values[key], Origin(config.origin(key))))
    return None
