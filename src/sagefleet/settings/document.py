"""One host's settings.json document, from the vendor's files or from the template.

Every writer and reader builds it with :func:`host_document` (the same bytes on every
path); :meth:`HostSettings.over` decides what it may overwrite on a host.
See docs/settings.md, "Two sources" and "Over the current file".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sagefleet.agent import profile as agent_profile
from sagefleet.agent.profile import MergeKey
from sagefleet.errors import InputError
from sagefleet.settings.errors import OverwriteRefused, ValidationFailed
from sagefleet.settings.jsonio import dumps, loads_strict
from sagefleet.settings.keys import KeyPath, key_path_text, keys_from_variable, parse_key_path
from sagefleet.settings.layer import layer
from sagefleet.settings.merge import MergeResult, merge_documents, plan_keys
from sagefleet.settings.model import Entity
from sagefleet.settings.render import TEMPLATE_KEYS, TemplatePath, render_host_settings
from sagefleet.settings.schemas import settings_schema_problems
from sagefleet.variables import given_or_none, value
from sagefleet.variables.jobs import DROP_CONNECTIONS, MERGE_KEYS, SETTINGS_SOURCE

SOURCE_VAR = SETTINGS_SOURCE.name
SOURCES: tuple[str, ...] = SETTINGS_SOURCE.choices or ()
DEFAULT_SOURCE: str = SETTINGS_SOURCE.default
MERGE_KEYS_VAR = MERGE_KEYS.name
DROP_VAR = DROP_CONNECTIONS.name
#: Where the service account an installer may write comes from, first set wins.
SERVICE_ACCOUNT_VARS = ("sagefleet_settings_service_account", "sagefleet_agent_service_account")
#: A current file in the template layout (written before the vendor source) is read by its key.
TEMPLATE_PLAN = {parse_key_path(k.path): k.member for k in TEMPLATE_KEYS}


@dataclass(frozen=True)
class SettingsOptions:
    """How a host's settings.json is built, from its variables and its agent profile."""

    source: str = DEFAULT_SOURCE
    keys: tuple[MergeKey, ...] = ()
    installer_adds: tuple[Mapping[str, str], ...] = ()
    drop_connections: bool = False
    service_account: str | None = None


def settings_options(host: str, variables: Mapping[str, Any]) -> SettingsOptions:
    """The settings options of one host, checked; InputError names host, variable and value."""
    source = value(host, variables, SOURCE_VAR)
    drop = value(host, variables, DROP_VAR)
    profile = agent_profile.for_host(variables, host=host)
    declared = given_or_none(host, variables, MERGE_KEYS_VAR)
    # An empty list (the roles' default) means: the agent profile's keys.
    keys = (
        keys_from_variable(declared, host=host, field=MERGE_KEYS_VAR)
        if declared
        else profile.merge_keys
    )
    accounts = (given_or_none(host, variables, name) for name in SERVICE_ACCOUNT_VARS)
    account = next((str(found) for found in accounts if found), None)
    return SettingsOptions(
        source=str(source),
        keys=tuple(keys),
        installer_adds=profile.installer_adds,
        drop_connections=drop,
        service_account=account,
    )


@dataclass(frozen=True)
class HostSettings:
    """A host's settings.json: the document, its exact text, and how it was built."""

    host: str
    document: Any = field(repr=False)
    options: SettingsOptions
    #: Key member of every keyed list, by key path.
    plan: Mapping[KeyPath, str] = field(default_factory=dict)
    #: Members of the host's current file kept by :meth:`over` (names only).
    kept: tuple[str, ...] = ()
    #: The names of the entities the document holds, in the inventory's order.
    entities: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return self.options.source

    @property
    def text(self) -> str:
        """The bytes written: sorted keys for sagefleet's template layout; the vendor's
        member order (kept by the merge) for vendor files."""
        return dumps(self.document, sort_keys=self.source == "template")

    def overwrite_problem(self, current_text: str | bytes | None) -> str | None:
        """Why the host's current settings.json must not be replaced by this one, or None
        (see :meth:`over`)."""
        try:
            self.over(current_text)
        except OverwriteRefused as exc:
            return exc.reason
        return None

    def over(self, current_text: str | bytes | None) -> HostSettings:
        """What to write over the host's current settings.json (``current_text``, None when
        there is none): every path that writes the file (the settings playbook, deploy's
        settings change, upgrade and install) goes through here.

        Under the vendor source, this document is laid over the current file
        (settings/layer.py): the new content wins for every member it carries, a member
        only the current file has is kept (``kept`` names them). A connection the current
        file holds and the vendor files lack is refused unless
        ``sagefleet_settings_drop_connections`` says so (then it goes, with its members).
        A current file in sagefleet's template layout is its own rendering, replaced whole.
        Template content never replaces a file that is not in the template layout (a
        vendor file), and is never laid over anything: the inventory is all it says.
        Raises :class:`OverwriteRefused` with the reason.
        """
        if current_text is None:
            return self
        try:
            current: Any = loads_strict(current_text, source="the current settings.json")
            unreadable = None
        except InputError as exc:
            current, unreadable = None, exc.message
        if self.source == "template":
            if unreadable is None and not settings_schema_problems(current):
                return self
            raise OverwriteRefused(
                "it is not in sagefleet's template layout (settings.schema.json), so it is "
                "the vendor's file or was edited by hand; sagefleet never overwrites a vendor "
                f"file with rendered content. Set {SOURCE_VAR}: vendor and give each entity "
                "its vendor_settings or vendor_package"
            )
        drop = self.options.drop_connections
        what = f"set {DROP_VAR}: true to replace it anyway"
        if unreadable is not None:
            if drop:
                return self  # nothing can be kept from a file that is not JSON
            raise OverwriteRefused(
                f"it is not valid JSON ({unreadable}), so the connections it holds cannot be "
                f"told; {what}"
            )
        new = MergeResult(self.document, self.plan)
        # A file in sagefleet's own template layout: nothing in it is the vendor's to keep.
        keep = bool(settings_schema_problems(current))
        try:
            layered = layer(
                current, new, keys=self.options.keys, host=self.host, hints=TEMPLATE_PLAN, keep=keep
            )
        except ValidationFailed as exc:
            if drop:
                return self
            raise OverwriteRefused(
                f"the connections it holds cannot be told ({exc.errors[0].message}); declare "
                f"the key in {MERGE_KEYS_VAR}, or {what}"
            ) from None
        if layered.dropped and not drop:
            raise OverwriteRefused(
                "it holds connection(s) the merged vendor files lack: "
                f"{', '.join(layered.dropped)}. "
                "Give those entities their vendor_settings or vendor_package, or set "
                f"{DROP_VAR}: true to remove them"
            )
        if not keep:
            return self
        return replace(self, document=layered.document, kept=layered.kept)


def _objects_at(value: Any, steps: KeyPath) -> list[dict[str, Any]]:
    """The objects at a key path, list items stepped through."""
    if isinstance(value, list):
        return [found for item in value for found in _objects_at(item, steps)]
    if not isinstance(value, dict):
        return []
    if not steps:
        return [value]
    return _objects_at(value[steps[0]], steps[1:]) if steps[0] in value else []


def installer_additions(
    host: str, entity: Entity, options: SettingsOptions
) -> tuple[Any, list[InputError]]:
    """The entity's vendor document with what the installer itself adds (agent profile's
    ``settings.installer_adds``: the wizard's answers), and the problems found."""
    document = copy.deepcopy(entity.vendor_settings)
    errors: list[InputError] = []
    values = {
        "mae_path": entity.mae_path,
        "sage_user": entity.sage_user,
        "service_account": options.service_account,
    }
    for add in options.installer_adds:
        where = f"settings.installer_adds {add['path']} (agent profile)"

        def problem(message: str, fix: str, where: str = where) -> None:
            errors.append(
                InputError(
                    message,
                    host=host,
                    entity=entity.name,
                    field=where,
                    value=entity.vendor_source,
                    fix=fix,
                )
            )

        try:
            steps = parse_key_path(str(add["path"]))
        except ValueError as exc:
            problem(str(exc), "fix the path in the agent profile")
            continue
        value = values[str(add["from"])]
        if not steps or value is None:
            problem(
                "nothing to add: "
                + (
                    "the path names no member"
                    if not steps
                    else f"{' or '.join(SERVICE_ACCOUNT_VARS)} is not set"
                ),
                "set the service account the installer is given, or fix the agent profile",
            )
            continue
        parents = _objects_at(document, steps[:-1])
        if len(parents) != 1:
            problem(
                f"the vendor file has {len(parents)} object(s) at {key_path_text(steps[:-1])}, "
                "where the installer adds one answer per connection",
                "give each entity the vendor file of its own connection, or fix the path "
                "in the agent profile",
            )
            continue
        member, target = steps[-1], parents[0]
        if target.get(member) in (None, ""):
            target[member] = value
        elif target[member] != value:
            problem(
                f"the vendor file already gives {key_path_text(steps)} another value than the "
                f"entity's {add['from']}",
                f"make the entity's {add['from']} the one chosen for this connection",
            )
    return document, errors


def host_document(
    host: str,
    entities: Sequence[Entity],
    options: SettingsOptions,
    *,
    template: TemplatePath = None,
) -> HostSettings:
    """The host's document for its source; raises ValidationFailed listing every problem.

    Under the vendor source an entity without a vendor file is an error: sagefleet
    does not invent the vendor's layout.
    """
    if options.source == "template":
        # One source per host: a vendor file is never mixed into rendered content.
        mixed = [
            InputError(
                f"a vendor file is given while {SOURCE_VAR} is template",
                host=host,
                entity=entity.name,
                field="vendor_settings",
                value=entity.vendor_source,
                fix=f"set {SOURCE_VAR}: vendor to merge the vendor files, or remove "
                "vendor_settings / vendor_package to render the template",
            )
            for entity in entities
            if entity.vendor_settings is not None
        ]
        if mixed:
            raise ValidationFailed(mixed, title="settings.json cannot be built")
        document = render_host_settings(entities, template=template, host=host)
        plan = plan_keys([document], ["the rendered template"], keys=TEMPLATE_KEYS, host=host)
        return HostSettings(host, document, options, plan, entities=_names(entities))
    errors: list[InputError] = []
    documents: list[Any] = []
    sources: list[str] = []
    for entity in entities:
        if entity.vendor_settings is None:
            errors.append(
                InputError(
                    f"no vendor settings.json for this entity ({SOURCE_VAR} is vendor)",
                    host=host,
                    entity=entity.name,
                    field="vendor_settings",
                    value="(unset)",
                    fix="give vendor_settings (the settings.json the vendor's form produced for "
                    "this connection, on the Spendesk settings page) or vendor_package (its "
                    f"Setup.zip); or set {SOURCE_VAR}: template to render sagefleet's assumed "
                    "layout from the entity's fields",
                )
            )
            continue
        document, problems = installer_additions(host, entity, options)
        errors.extend(problems)
        documents.append(document)
        sources.append(f"entity {entity.name} ({entity.vendor_source})")
    if errors:
        raise ValidationFailed(errors, title="settings.json cannot be built")
    merged = merge_documents(documents, sources, keys=options.keys, host=host)
    return HostSettings(host, merged.document, options, merged.plan, entities=_names(entities))


def _names(entities: Sequence[Entity]) -> tuple[str, ...]:
    return tuple(entity.name for entity in entities)
