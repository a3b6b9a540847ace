"""The search form and API body checked field by field with the CLI's own validators."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from cvesweep.errors import InputError
from cvesweep.inputs import parse_asset_groups, parse_ips, parse_min_severity, parse_since
from cvesweep.library import StoreFlags
from cvesweep.models import SearchOptions, parse_cve
from cvesweep.runner import RunRequest

# Form field → the name its messages give it: the form's (and the API's) field name, never a
# CLI flag (the CLI's validators word the rest of the message the same way).
FIELD_NAMES = {
    "cve": "cve",
    "ips": "ips",
    "since": "since",
    "min_severity": "min_severity",
    "asset_groups": "asset_groups",
}
FLAG_FIELDS = ("add_assets", "add_discovered_assets", "tag_cves")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SearchInput:
    """What the user typed; an empty or blank text means "not given"."""

    cve: str = ""
    ips: str = ""
    since: str = ""
    min_severity: str = ""
    asset_groups: str = ""
    add_assets: bool = True
    add_discovered_assets: bool = True
    tag_cves: bool = True
    store: bool = True

    @classmethod
    def from_form(cls, form: Mapping[str, object]) -> SearchInput:
        """Return the input of a submitted search form (an unchecked box is absent)."""

        def text(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        return cls(
            cve=text("cve"),
            ips=text("ips"),
            since=text("since"),
            min_severity=text("min_severity"),
            asset_groups=text("asset_groups"),
            add_assets=form.get("add_assets") is not None,
            add_discovered_assets=form.get("add_discovered_assets") is not None,
            tag_cves=form.get("tag_cves") is not None,
            store=form.get("no_store") is None,
        )


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome of checking a SearchInput: a request, or errors by form field."""

    request: RunRequest | None
    errors: Mapping[str, InputError]

    def first_error(self) -> InputError | None:
        """Return the first error in form order, or None."""
        return next(iter(self.errors.values()), None)

    def messages(self) -> dict[str, str]:
        """Return each field's message without the option name (shown next to the field)."""
        return {
            name: error.message.removeprefix(f"{error.field}: ")
            for name, error in self.errors.items()
        }


class _Collector:
    """Parses fields one by one, keeping every field's InputError."""

    def __init__(self, given: SearchInput) -> None:
        self.given = given
        self.errors: dict[str, InputError] = {}

    def take(self, name: str, parse: Callable[[str, str], T]) -> T | None:
        text = str(getattr(self.given, name)).strip()
        if not text and name != "cve":
            return None
        try:
            return parse(text, FIELD_NAMES[name])
        except InputError as error:
            self.errors[name] = error
            return None


def check_search(given: SearchInput) -> Checked:
    """Return the checked request, or every field's InputError (worded as the CLI's, naming the
    form field)."""
    fields = _Collector(given)
    cve = fields.take("cve", lambda text, field: parse_cve(text, field=field))
    ips = fields.take("ips", lambda text, field: parse_ips(text, field=field))
    since = fields.take("since", lambda text, field: parse_since(text, field=field))
    severity = fields.take(
        "min_severity", lambda text, field: parse_min_severity(text, field=field)
    )
    groups = fields.take("asset_groups", lambda text, field: parse_asset_groups(text, field=field))
    if fields.errors or cve is None:
        return Checked(None, fields.errors)
    options = SearchOptions(
        ips=ips or (), since=since, min_severity=severity, asset_groups=groups or ()
    )
    flags = StoreFlags(given.add_assets, given.add_discovered_assets, given.tag_cves)
    return Checked(RunRequest(cve, options, flags, given.store), {})
