"""Settings: the one table, precedence of flags > environment > config file > defaults."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from cvesweep.errors import ConfigError, InputError
from cvesweep.models import SearchMethod
from cvesweep.qualys.auth import AuthMethod
from cvesweep.settings import (
    ENV_PASSWORD,
    ENV_URL,
    ENV_USERNAME,
    SETTINGS,
    Settings,
    load_settings,
)

SECRET = "Sup3r-s3cret!pw"
ENV = {ENV_URL: "https://env.example.com", ENV_USERNAME: "env-user", ENV_PASSWORD: SECRET}


def load(
    tmp_path: Path,
    *,
    flags: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    config: str | None = None,
    prompt: object = None,
) -> Settings:
    """Load settings with no default config file unless ``config`` text is given."""
    path = None
    if config is not None:
        path = tmp_path / "config.toml"
        path.write_text(config, encoding="utf-8")
        os.chmod(path, 0o600)
    return load_settings(
        flags=flags or {},
        environ=environ if environ is not None else {},
        config_path=path,
        prompt=prompt,  # type: ignore[arg-type]
        default_config=tmp_path / "absent.toml",
    )


def test_every_row_is_a_settings_field_with_the_same_default() -> None:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    assert [spec.name for spec in SETTINGS] == [
        "url", "hostname", "port", "username", "password", "auth", "gateway_url",
        "client_id", "client_secret", "verify_ssl", "ca_bundle",
        "connect_timeout", "read_timeout", "retries", "wait_budget",
        "detection_version", "knowledge_base_version", "search_list_version",
        "host_list_version", "cve_detection_version", "method", "max_parallel",
        "truncation_limit",
        "add_assets", "add_discovered_assets", "tag_cves",
    ]  # fmt: skip
    assert set(fields) == {spec.name for spec in SETTINGS}
    for spec in SETTINGS:
        default = fields[spec.name].default
        expected = None if default is dataclasses.MISSING else default
        assert spec.default == expected, spec.name
        assert spec.help


def test_only_the_documented_environment_variables_exist() -> None:
    assert {spec.env_var for spec in SETTINGS if spec.env_var} == {
        "CVESWEEP_QUALYS_URL", "CVESWEEP_QUALYS_USERNAME", "CVESWEEP_QUALYS_PASSWORD",
        "CVESWEEP_QUALYS_CLIENT_ID", "CVESWEEP_QUALYS_CLIENT_SECRET",
    }  # fmt: skip


def test_the_password_and_client_secret_are_secret_and_never_flags() -> None:
    secret = [spec for spec in SETTINGS if spec.secret]
    assert [spec.name for spec in secret] == ["password", "client_secret"]
    assert all(spec.flag is None for spec in secret)


def test_environment_alone_is_enough(tmp_path: Path) -> None:
    settings = load(tmp_path, environ=ENV)
    assert settings.base_url == "https://env.example.com"
    assert settings.username == "env-user"
    assert settings.password == SECRET
    assert (settings.port, settings.verify_ssl, settings.retries) == (443, True, 4)
    assert (settings.connect_timeout, settings.read_timeout, settings.wait_budget) == (
        10.0, 300.0, 300.0,
    )  # fmt: skip
    assert settings.truncation_limit == 1000


def test_flags_beat_environment_beats_config(tmp_path: Path) -> None:
    config = (
        '[qualys]\nurl = "https://file.example.com"\nusername = "file-user"\n'
        'password = "file-pw"\nconnect_timeout = 3\n[search]\ntruncation_limit = 10\n'
    )
    settings = load(
        tmp_path,
        flags={"username": "flag-user", "truncation_limit": 20},
        environ={ENV_USERNAME: "env-user", ENV_PASSWORD: "env-pw"},
        config=config,
    )
    assert settings.username == "flag-user"
    assert settings.password == "env-pw"
    assert settings.base_url == "https://file.example.com"
    assert settings.connect_timeout == 3.0
    assert settings.truncation_limit == 20


def test_flags_given_as_none_are_not_given(tmp_path: Path) -> None:
    settings = load(tmp_path, flags={"url": None, "username": None, "port": None}, environ=ENV)
    assert settings.username == "env-user"
    assert settings.base_url == "https://env.example.com"


def test_an_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    config = '[qualys]\nusername = "file-user"\npassword = "pw"\nurl = "https://f.example.com"\n'
    settings = load(tmp_path, environ={ENV_USERNAME: "", ENV_PASSWORD: ""}, config=config)
    assert settings.username == "file-user"
    assert settings.password == "pw"


@pytest.mark.parametrize(
    ("flags", "environ", "config", "base_url"),
    [
        ({"hostname": "qualysapi.qg2.apps.qualys.com"}, {}, "",
         "https://qualysapi.qg2.apps.qualys.com"),
        ({"hostname": "q.example.com", "port": 8443}, {}, "", "https://q.example.com:8443"),
        ({"hostname": "::1", "port": "8443"}, {}, "", "https://[::1]:8443"),
        ({"url": "http://127.0.0.1:8080/", "hostname": "q.example.com"}, {}, "",
         "http://127.0.0.1:8080"),
        ({"hostname": "flag.example.com"}, {ENV_URL: "https://env.example.com"}, "",
         "https://flag.example.com"),
        ({}, {ENV_URL: "https://env.example.com"}, 'hostname = "file.example.com"',
         "https://env.example.com"),
        ({}, {}, 'hostname = "file.example.com"\nport = 444', "https://file.example.com:444"),
        ({}, {}, 'hostname = "h.example.com"\nurl = "https://u.example.com"',
         "https://u.example.com"),
    ],
)  # fmt: skip
def test_the_endpoint_comes_from_the_highest_source(
    tmp_path: Path, flags: dict[str, object], environ: dict[str, str], config: str, base_url: str
) -> None:
    environ = {ENV_USERNAME: "u", ENV_PASSWORD: "p", **environ}
    settings = load(tmp_path, flags=flags, environ=environ, config="[qualys]\n" + config)
    assert settings.base_url == base_url


@pytest.mark.parametrize(
    ("flags", "field", "says"),
    [
        ({"url": "qualys.example.com"}, "--url", "not a URL"),
        ({"url": "http://qualys.example.com"}, "--url", "unencrypted"),
        ({"hostname": "https://q.example.com"}, "--hostname", "not a host name"),
        ({"port": 0}, "--port", "1 to 65535"),
        ({"port": "https"}, "--port", "1 to 65535"),
        ({"username": "  "}, "--username", "non-empty"),
        ({"truncation_limit": -1}, "--truncation-limit", "0 (no limit)"),
        ({"truncation_limit": "lots"}, "--truncation-limit", "0 (no limit)"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "--ca-bundle", "not an existing file"),
    ],
)
def test_bad_flags_are_input_errors_naming_the_flag(
    tmp_path: Path, flags: dict[str, object], field: str, says: str
) -> None:
    with pytest.raises(InputError) as caught:
        load(tmp_path, flags=flags, environ=ENV)
    assert caught.value.field == field
    assert says in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("environ", "config", "says"),
    [
        ({ENV_URL: "ftp://x"}, "", "CVESWEEP_QUALYS_URL: 'ftp://x' is not a URL"),
        ({}, "[qualys]\nport = 70000", "qualys.port in"),
        ({}, "[qualys]\nconnect_timeout = 0", "above 0"),
        ({}, "[qualys]\nread_timeout = -1.5", "above 0"),
        ({}, "[qualys]\nwait_budget = -1", "0 or more"),
        ({}, "[qualys]\nretries = 0", "from 1 to 100"),
        ({}, "[search]\ntruncation_limit = 2000000", "search.truncation_limit in"),
        ({}, '[qualys]\nca_bundle = "/nonexistent/ca.pem"', "not an existing file"),
    ],
)
def test_bad_environment_or_config_values_are_config_errors(
    tmp_path: Path, environ: dict[str, str], config: str, says: str
) -> None:
    environ = {**ENV, **environ}
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ=environ, config=config)
    assert says in caught.value.message
    assert caught.value.exit_code == 2


def test_verify_ssl_and_ca_bundle(tmp_path: Path) -> None:
    from cvesweep.simulator.certificate import write_self_signed

    bundle, _ = write_self_signed(tmp_path)
    settings = load(tmp_path, flags={"verify_ssl": False, "ca_bundle": str(bundle)}, environ=ENV)
    assert settings.verify_ssl is False
    assert settings.ca_bundle == bundle


@pytest.mark.parametrize(
    ("environ", "missing", "not_missing"),
    [
        ({}, ["URL", "username", "password"], []),
        ({ENV_URL: "https://q.example.com"}, ["username", "password"], ["URL"]),
        ({ENV_URL: "https://q.example.com", ENV_USERNAME: "u"}, ["password"], ["URL", "username"]),
        ({ENV_URL: "https://q.example.com", ENV_PASSWORD: "p"}, ["username"], ["URL", "password"]),
    ],
)  # fmt: skip
def test_missing_credentials_name_what_and_the_three_ways(
    tmp_path: Path, environ: dict[str, str], missing: list[str], not_missing: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ=environ)
    message = caught.value.message
    assert caught.value.exit_code == 2
    for what in missing:
        assert f"the Qualys {what}:" in message
    for what in not_missing:
        assert f"the Qualys {what}:" not in message
    if "password" in missing:
        assert "CVESWEEP_QUALYS_PASSWORD" in message
        assert "config" not in message or "chmod 600" in message
        assert "prompted" in message
    if "URL" in missing:
        assert "--url" in message
        assert "CVESWEEP_QUALYS_URL" in message
        assert str(tmp_path / "absent.toml") in message


def test_the_prompt_is_asked_only_when_no_other_source_has_the_password(tmp_path: Path) -> None:
    asked: list[str] = []

    def prompt(question: str) -> str:
        asked.append(question)
        return "typed-pw"

    environ = {ENV_URL: "https://q.example.com", ENV_USERNAME: "u"}
    settings = load(tmp_path, environ=environ, prompt=prompt)
    assert settings.password == "typed-pw"
    assert asked == ["Qualys password: "]
    asked.clear()
    assert load(tmp_path, environ=ENV, prompt=prompt).password == SECRET
    assert asked == []


def test_the_prompt_is_not_asked_when_the_url_is_missing(tmp_path: Path) -> None:
    asked: list[str] = []

    def prompt(question: str) -> str:
        asked.append(question)
        return "pw"

    with pytest.raises(ConfigError, match="the Qualys URL"):
        load(tmp_path, environ={ENV_USERNAME: "u"}, prompt=prompt)
    assert asked == []


def test_an_empty_prompt_answer_is_a_missing_password(tmp_path: Path) -> None:
    environ = {ENV_URL: "https://q.example.com", ENV_USERNAME: "u"}
    with pytest.raises(ConfigError, match="the Qualys password"):
        load(tmp_path, environ=environ, prompt=lambda question: "")


@pytest.mark.parametrize("name", ["password", "nonsense", "retries"])
def test_a_flag_that_is_not_in_the_table_is_a_caller_bug(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        load(tmp_path, flags={name: "x"}, environ=ENV)


def test_the_password_never_shows_in_repr_str_or_public(tmp_path: Path) -> None:
    settings = load(tmp_path, environ=ENV)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert "password" not in settings.public()
    assert settings.public()["username"] == "env-user"


@pytest.mark.parametrize(
    ("environ", "config"),
    [
        ({ENV_PASSWORD: SECRET, ENV_URL: "nonsense"}, None),
        ({ENV_PASSWORD: SECRET, ENV_USERNAME: "u", ENV_URL: "https://q.example.com"},
         f'[qualys]\npassword = "{SECRET}"\nport = 0\n'),
        ({}, f'[qualys]\npassword = "{SECRET}"\n'),
    ],
)  # fmt: skip
def test_the_password_never_shows_in_errors(
    tmp_path: Path, environ: dict[str, str], config: str | None
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ=environ, config=config)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert SECRET not in (caught.value.hint or "")


def test_a_password_in_a_world_readable_config_is_refused(tmp_path: Path) -> None:
    if os.name == "nt":
        pytest.skip("POSIX file modes")
    path = tmp_path / "config.toml"
    path.write_text(f'[qualys]\npassword = "{SECRET}"\n', encoding="utf-8")
    os.chmod(path, 0o644)
    environ = {ENV_URL: "https://q.example.com", ENV_USERNAME: "u"}
    with pytest.raises(ConfigError) as caught:
        load_settings(flags={}, environ=environ, config_path=path, prompt=None)
    assert caught.value.hint == f"run: chmod 600 {path}"


def test_an_explicit_config_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(flags={}, environ=ENV, config_path=tmp_path / "no.toml", prompt=None)


def test_settings_need_an_endpoint() -> None:
    with pytest.raises(ConfigError, match="url or a hostname"):
        Settings(username="u", password="p")


@pytest.mark.parametrize("content", ["not a certificate\n", ""])
def test_a_ca_bundle_without_certificates_is_refused_before_any_call(
    tmp_path: Path, content: str
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(content)
    with pytest.raises(InputError) as caught:
        load_settings(
            flags={"ca_bundle": str(bundle)},
            environ={"CVESWEEP_QUALYS_URL": "https://qualys.example.com",
                     "CVESWEEP_QUALYS_USERNAME": "u", "CVESWEEP_QUALYS_PASSWORD": "p"},
            config_path=None, prompt=None, default_config=tmp_path / "absent.toml",
        )  # fmt: skip
    assert caught.value.field == "--ca-bundle"
    assert "PEM" in caught.value.message and "PosixPath" not in caught.value.message


def test_choice_settings_are_enums_even_when_defaulted(tmp_path: Path) -> None:
    settings = load(tmp_path, environ=ENV)
    assert settings.method is SearchMethod.SEARCH_LIST and settings.auth is AuthMethod.BASIC
    assert settings.method.value == "search-list"
