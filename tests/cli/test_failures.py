"""Errors reach the terminal as one plain line with a hint and the documented exit code."""

from __future__ import annotations

import pytest
import typer

from cvesweep.cli.failures import guarded, report
from cvesweep.errors import ConfigError, InputError, QualysAuthError, QualysConnectionError


def test_user_text_in_an_error_is_never_read_as_markup(capsys: pytest.CaptureFixture[str]) -> None:
    report(InputError("--asset-groups", "'[/x]' and '[bold]y' are not groups"))
    err = capsys.readouterr().err
    assert "'[/x]' and '[bold]y' are not groups" in err
    assert err.startswith("error (input): --asset-groups:")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InputError("--ips", "bad"), 2),
        (ConfigError("missing the password"), 2),
        (
            QualysAuthError(2000, "Bad Login/Password", call="search list create", http_status=401),
            3,
        ),
        (QualysConnectionError("refused"), 4),
    ],
)
def test_guarded_exits_with_the_documented_code_and_a_hint(
    error: Exception, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as caught, guarded():
        raise error
    assert caught.value.exit_code == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) <= 2
