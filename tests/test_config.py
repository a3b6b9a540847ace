"""The TOML config file: tables, keys, types, the mode check for passwords, missing files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cvesweep.config import ConfigKey, default_config_path, load_config
from cvesweep.errors import ConfigError
from cvesweep.settings import CONFIG_SCHEMA

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_default_path_is_config_toml_in_the_user_config_dir() -> None:
    path = default_config_path()
    assert path.name == "config.toml"
    assert path.parent.name == "cvesweep"


def test_values_are_read_by_dotted_key(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        '[qualys]\nurl = "https://q.example.com"\nport = 8443\nverify_ssl = false\n'
        "read_timeout = 12.5\n[search]\ntruncation_limit = 50\n",
    )
    config = load_config(path, schema=CONFIG_SCHEMA, required=True)
    assert config is not None
    assert dict(config.values) == {
        "qualys.url": "https://q.example.com",
        "qualys.port": 8443,
        "qualys.verify_ssl": False,
        "qualys.read_timeout": 12.5,
        "search.truncation_limit": 50,
    }
    assert config.origin("qualys.port") == f"qualys.port in {path}"


def test_a_missing_default_file_is_fine(tmp_path: Path) -> None:
    assert load_config(tmp_path / "none.toml", schema=CONFIG_SCHEMA, required=False) is None


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as caught:
        load_config(tmp_path / "none.toml", schema=CONFIG_SCHEMA, required=True)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[qualys]\nurl = \n", "not valid TOML"),
        ('[qualys]\nuser = "bob"\n', "unknown key 'qualys.user'"),
        ('[server]\nurl = "x"\n', "unknown key 'server'"),
        ('url = "https://q.example.com"\n', "unknown key 'url'"),
        ('[qualys]\nport = "443"\n', "qualys.port in config file"),
        ("[qualys]\nport = true\n", "must be an integer, not True"),
        ('[qualys]\nverify_ssl = "no"\n', "must be true or false"),
        ("[qualys]\nread_timeout = true\n", "must be an integer or a number"),
        ("[search]\ntruncation_limit = 1.5\n", "search.truncation_limit"),
        ("[qualys]\nusername = 7\n", "must be a string, not 7"),
    ],
)
def test_bad_files_are_refused_naming_the_key(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, schema=CONFIG_SCHEMA, required=True)
    assert says in str(caught.value)
    assert str(path) in str(caught.value)


def test_unknown_key_hint_lists_the_known_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[qualys]\npasswd = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, schema=CONFIG_SCHEMA, required=True)
    assert caught.value.hint is not None
    assert "password" in caught.value.hint
    assert "username" in caught.value.hint


def test_a_wrongly_typed_password_is_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[qualys]\npassword = 123456789\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, schema=CONFIG_SCHEMA, required=True)
    assert "123456789" not in str(caught.value)
    assert "qualys.password" in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'[qualys]\nusername = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not"):
        load_config(path, schema=CONFIG_SCHEMA, required=True)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path, schema=CONFIG_SCHEMA, required=True)


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666, 0o700 | 0o004])
def test_a_password_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "c.toml", '[qualys]\npassword = "s3cr3t-Pa55"\n', mode)
    with pytest.raises(ConfigError) as caught:
        load_config(path, schema=CONFIG_SCHEMA, required=True)
    assert f"{mode:04o}" in str(caught.value)
    assert caught.value.hint == f"run: chmod 600 {path}"
    assert "s3cr3t-Pa55" not in str(caught.value)


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_password_file_for_the_owner_only_is_read(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "c.toml", '[qualys]\npassword = "s3cr3t"\n', mode)
    config = load_config(path, schema=CONFIG_SCHEMA, required=True)
    assert config is not None
    assert config.values["qualys.password"] == "s3cr3t"


@posix_only
def test_a_file_without_password_may_be_world_readable(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[qualys]\nusername = "bob"\n', 0o644)
    config = load_config(path, schema=CONFIG_SCHEMA, required=True)
    assert config is not None
    assert config.values == {"qualys.username": "bob"}


def test_the_schema_decides_the_tables(tmp_path: Path) -> None:
    schema = {"a.x": ConfigKey((int,))}
    path = write(tmp_path / "c.toml", "[a]\nx = 1\n[qualys]\nurl = 'u'\n")
    with pytest.raises(ConfigError, match="unknown key 'qualys'"):
        load_config(path, schema=schema, required=True)
