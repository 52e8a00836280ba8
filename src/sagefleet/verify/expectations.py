"""What a deployed host should look like, computed from its inventory variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagefleet import catalog
from sagefleet.agent import connection
from sagefleet.agent import profile as agent_profile
from sagefleet.agent.connection import ConnectionOptions
from sagefleet.settings import build_host_settings, entities_for_host
from sagefleet.settings.keys import KeyPath, item_key, unique_string_member
from sagefleet.settings.merge import connections
from sagefleet.settings.redact import MASK, is_secret_key, is_secret_path
from sagefleet.settings.validate import refuse_misspelt
from sagefleet.variables import given_or_none, value
from sagefleet.variables.declarations import STAGING_DIR


@dataclass(frozen=True)
class Expectations:
    host: str
    #: The agent's service as the agent profile finds it (None: by pattern only).
    service_name: str | None
    service_account: str | None
    target_version: str | None
    settings_path: str
    settings: Any = field(repr=False)
    #: The key member of each keyed list of ``settings`` (how connections are told apart).
    settings_keys: Mapping[tuple[str, ...], str]
    #: The connections ``settings`` holds, e.g. ``Connections[CompanyName=BIJOU]``.
    connections: tuple[str, ...]
    entity_names: tuple[str, ...]
    edition: str | None
    endpoints: tuple[catalog.Endpoint, ...]
    staging_dir: str
    staging_keep: int
    install_dir: str = ""
    #: How to find the agent's service: ``windows.service(**expected.service_lookup)``.
    service_lookup: Mapping[str, str | None] = field(default_factory=dict)
    #: SF513's options: the endpoints, the window after start, the profile's log evidence.
    agent_connection: ConnectionOptions | None = None
    #: Members the file has and ``settings`` lacks are fine: under the vendor source a
    #: write keeps what only the host's file held (what the vendor's installer added).
    settings_extra_allowed: bool = False
    #: The agent reads settings.json only when it starts (the profile's
    #: settings.read_at_start): SF514 then applies.
    reads_settings_at_start: bool = True

    @property
    def service_label(self) -> str:
        """The service as a message names it: its name, or the lookup tried."""
        return self.service_name or " or ".join(
            f"{k} {v!r}" for k, v in self.service_lookup.items() if v
        )


def for_host(host: str, variables: Mapping[str, Any]) -> Expectations:
    """Expectations of one host; raises InputError/ValidationFailed on a bad inventory."""
    refuse_misspelt(host, variables)  # its default would be expected, unseen
    profile = agent_profile.for_host(variables, host=host)
    entities: tuple[Any, ...] = ()
    settings = None
    keys: Mapping[tuple[str, ...], str] = {}
    extra_allowed = False
    if "sagefleet_entities" in variables:
        entities = entities_for_host(host, variables).entities
        built = build_host_settings(host, variables)
        settings, keys = built.document, built.plan
        extra_allowed = built.source == "vendor"
    editions = {e.edition for e in entities}
    version = given_or_none(host, variables, "sagefleet_agent_target_version")
    return Expectations(
        host=host,
        service_name=profile.service_name,
        # Unset: an upgrade keeps whatever account the service already runs as.
        service_account=(
            str(variables["sagefleet_agent_service_account"])
            if variables.get("sagefleet_agent_service_account")
            else None
        ),
        target_version=str(version) if version is not None else None,
        settings_path=profile.settings_path(),
        settings=settings,
        settings_keys=keys,
        connections=tuple(connections(settings, keys)) if settings is not None else (),
        entity_names=tuple(sorted(e.name for e in entities)),
        edition=editions.pop() if len(editions) == 1 else variables.get("sagefleet_edition"),
        endpoints=tuple(catalog.endpoints(variables.get("sagefleet_endpoints"), host=host)),
        staging_dir=str(given_or_none(host, variables, STAGING_DIR.name) or STAGING_DIR.default),
        staging_keep=value(host, variables, "sagefleet_agent_staging_keep"),
        install_dir=profile.install_dir,
        service_lookup=profile.service_lookup,
        agent_connection=connection.options_from(host, variables),
        settings_extra_allowed=extra_allowed,
        reads_settings_at_start=profile.reads_settings_at_start,
    )


def differences(
    actual: Any,
    expected: Any,
    path: str = "$",
    *,
    extra_allowed: bool = False,
    keys: Mapping[KeyPath, str] | None = None,
) -> list[str]:
    """Every path where ``actual`` differs from ``expected``; secret values never shown.

    ``extra_allowed``: a member only ``actual`` has is not a difference (a vendor
    file keeps what the installer added, docs/settings.md). Lists of connections are
    paired by their key: the member ``keys`` (the merge's plan) gives for their place, or
    without ``keys`` the candidate both lists hold; other lists by position."""
    return _Comparison(extra_allowed, keys).walk(actual, expected, path, ())


@dataclass(frozen=True)
class _Comparison:
    extra_allowed: bool
    keys: Mapping[KeyPath, str] | None

    def member(self, actual: list[Any], expected: list[Any], shape: KeyPath) -> str | None:
        if self.keys is None:
            return item_key(actual, expected)
        member = self.keys.get(shape)
        if member is not None and all(unique_string_member(v, member) for v in (actual, expected)):
            return member
        return None

    def walk(self, actual: Any, expected: Any, path: str, shape: KeyPath) -> list[str]:
        secret = is_secret_path(path.split("."))

        def show(value: Any) -> str:
            # A container is never shown: where the two sides' shapes differ, it holds the
            # connections' passwords under names this path does not carry.
            if isinstance(value, Mapping):
                return f"an object of {len(value)} member(s)"
            if isinstance(value, list):
                return f"a list of {len(value)} item(s)"
            return MASK if secret else repr(value)

        if isinstance(expected, Mapping) and isinstance(actual, Mapping):
            found = []
            for key in sorted(set(expected) | set(actual)):
                child = f"{path}.{key}"
                if key not in actual:
                    found.append(f"{child}: missing")
                elif key not in expected:
                    if not self.extra_allowed:
                        found.append(f"{child}: unexpected field")
                else:
                    found.extend(self.walk(actual[key], expected[key], child, (*shape, key)))
            return found
        if isinstance(expected, list) and isinstance(actual, list):
            member = self.member(actual, expected, shape)
            if member is not None:
                return self.keyed(actual, expected, path, shape, member)
            if len(expected) != len(actual):
                return [f"{path}: {len(actual)} items, expected {len(expected)}"]
            found = []
            for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
                found.extend(self.walk(a, e, f"{path}[{index}]", shape))
            return found
        if actual != expected:
            if secret and not isinstance(actual, Mapping | list):
                # "********, expected ********" read as no difference at all.
                return [f"{path}: {MASK}, another value than expected (a secret: not shown)"]
            return [f"{path}: {show(actual)}, expected {show(expected)}"]
        return []

    def keyed(
        self, actual: list[Any], expected: list[Any], path: str, shape: KeyPath, member: str
    ) -> list[str]:
        """Two lists of connections paired by their key (``Connections[CompanyName=BIJOU]``,
        as the merge names them): an item missing or extra, each pair's differences, and an
        order the host's file does not keep."""
        have = {item[member]: item for item in actual}
        want = {item[member]: item for item in expected}

        def place(key: str) -> str:
            return f"{path}[{member}={MASK if is_secret_key(member) else key}]"

        found = []
        for key, item in want.items():
            if key in have:
                found.extend(self.walk(have[key], item, place(key), shape))
            else:
                found.append(f"{place(key)}: missing")
        found.extend(f"{place(key)}: unexpected item" for key in have if key not in want)
        kept, wanted = [k for k in have if k in want], [k for k in want if k in have]
        if kept != wanted:
            found.append(
                f"{path}: items in the order {', '.join(kept)}, expected {', '.join(wanted)}"
            )
        return found
