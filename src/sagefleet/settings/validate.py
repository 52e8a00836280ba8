"""Validation of ``sagefleet_entities`` on the bastion, before any host is touched.

The JSON Schema checks types and formats; the rules here what a schema cannot say.
Every problem is collected and reported as an InputError (docs/settings.md).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError

from sagefleet.errors import InputError
from sagefleet.settings.document import HostSettings, host_document, settings_options
from sagefleet.settings.errors import ValidationFailed
from sagefleet.settings.jsonio import loads_strict
from sagefleet.settings.model import (
    AZURE_SQL_SUFFIX,
    ENTITIES_VAR,
    SECRET_FIELDS,
    Entity,
)
from sagefleet.settings.redact import MASK
from sagefleet.settings.render import TemplatePath
from sagefleet.settings.schemas import ENTITIES_SCHEMA, checker, load_schema, validator
from sagefleet.settings.vendor import load_vendor_package, load_vendor_settings, resolve
from sagefleet.variables import unknown_errors

#: What each field must look like and how to fix it, in the user's words.
FIELD_RULES: dict[str, tuple[str, str]] = {
    ENTITIES_VAR: (
        "must be a list of 1 to 50 entities",
        f"write {ENTITIES_VAR} as a YAML list, one item per Sage company file",
    ),
    "name": (
        "must be a connection name of 1-100 printable characters, without leading or "
        "trailing spaces",
        "give each connection a short readable name, e.g. 'Bijou SAS'",
    ),
    "company_code": (
        "must be a Sage file code of 1-64 letters, digits, '_', '-' or '.'",
        "use the file code shown in Sage, e.g. BIJOU",
    ),
    "analytic_plan": (
        "must be a whole number from 1 to 99: the 1-based position of the plan in "
        "Structure > Plan analytique",
        "write the number without quotes, e.g. analytic_plan: 1",
    ),
    "edition": (
        "must be 'spc' (Sage 100cloud Partner Cloud, Azure SQL) or 'onpremise'",
        "write edition: spc or edition: onpremise",
    ),
    "azure_sql_server": (
        "must be an Azure SQL server short name: 1-63 lowercase letters, digits or '-', "
        "not starting or ending with '-'",
        "use the part before .database.windows.net, in lowercase, e.g. xiyxu8z271",
    ),
    "sql_instance": (
        "must be HOST or HOST\\INSTANCE, optionally followed by ,PORT",
        "write the SQL Server name as in SQL Server Management Studio, e.g. SRV-SQL\\SAGE",
    ),
    "database": (
        "must be a SQL database name of 1-128 characters without control characters, "
        "none of [ ] < > * % & : \\ / ? \" ' ;, no leading or trailing space, no trailing '.'",
        "copy the database name from SQL Server Management Studio (or the .MAE file name)",
    ),
    "sage_user": (
        "must be a Sage user name of 1-64 printable characters",
        "keep the angle brackets of built-in users, e.g. <administrateur>",
    ),
    "sage_password": (
        "must be a string of at most 128 characters (empty is allowed)",
        "quote it in YAML ('' when the Sage user has no password) and keep it in a vault file",
    ),
    "sql_user": (
        "must be a SQL login of 1-128 printable characters",
        "use the SQL login that reads the company database",
    ),
    "sql_password": (
        "must be a non-empty string of at most 128 characters",
        "quote it in YAML and keep it in a vault file",
    ),
    "mae_path": (
        "must be an absolute Windows path (C:\\... or \\\\server\\share\\...) to a .mae file",
        "give the full path of the company's .MAE file as seen from the server, "
        "e.g. \\\\FS01\\Sage\\BIJOU.MAE",
    ),
    "pdf_storage": (
        "must be 'filestream' (receipts stored in Sage) or an absolute Windows folder path",
        "write pdf_storage: filestream, or a folder such as D:\\Spendesk\\Receipts",
    ),
    "vendor_settings": (
        "must be the path of the vendor's settings.json file, or the parsed document",
        "point to the settings.json the vendor's form produced for this connection "
        "(in its Setup.zip), unchanged",
    ),
    "vendor_package": (
        "must be the path of the vendor's package (Setup.zip) for this connection",
        "point to the Setup.zip downloaded from the vendor's form for this connection",
    ),
}

_EDITION_ONLY = {"azure_sql_server": "spc", "sql_instance": "onpremise"}


@dataclass(frozen=True)
class HostEntities:
    """The validated entities of one host, with notes on values that were normalised."""

    host: str
    entities: tuple[Entity, ...]
    notes: tuple[str, ...] = ()


@dataclass
class HostValidation:
    """Everything validation learned about one host: entities, notes and every error."""

    host: str
    entities: list[Entity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)


#: Fields whose value is a path, shown whole in errors.
PATH_FIELDS = frozenset({"vendor_settings", "vendor_package", "mae_path", "pdf_storage"})


def inline_document(raw: Any) -> Any:
    """An entity's vendor_settings given as the document itself (its JSON text, or a mapping
    or list from YAML), read as strictly as a file: a YAML value that JSON has not (a date,
    .nan) is refused, never written to the host. Errors never show the value."""
    if isinstance(raw, str):
        return loads_strict(raw, source="inline document")
    try:
        text = json.dumps(to_plain(raw), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"the document holds a value JSON has not ({type(exc).__name__}: "
            f"{str(exc).split(':')[0]})",
            value="inline document",
            fix="quote dates and numbers that are not finite in YAML, or give the vendor's "
            "settings.json file's path",
        ) from None
    return loads_strict(text, source="inline document")


def show_value(field_name: str | None, value: Any) -> str:
    """How a value appears in an error: secrets masked, long values cut, containers summarised."""
    if field_name in SECRET_FIELDS:
        return MASK
    if field_name == ENTITIES_VAR and isinstance(value, str):
        # The entities as text (a lookup without from_json): their passwords are in it.
        return f"a string of {len(value)} characters, not shown"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item(s)"
    # Printable strings are quoted as written, so Windows paths keep single backslashes.
    text = f"'{value}'" if isinstance(value, str) and value.isprintable() else repr(value)
    # A path is shown whole (up to Windows' long-path range): it names the file to fix.
    limit = 300 if field_name in PATH_FIELDS else 80
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_valid(field_name: str, value: Any) -> bool:
    """Whether ``value`` meets the entity schema's rule for ``field_name``, alone."""
    rule = load_schema(ENTITIES_SCHEMA)["$defs"]["entity"]["properties"][field_name]
    return not list(validator(ENTITIES_SCHEMA).descend(value, rule))


def check_mae_path(value: str, option: str) -> None:
    """Refuse, naming ``option``, a .MAE path an entity's mae_path could not be: the server
    reads it, where a relative path (or C:X.MAE, \\X.MAE) starts at whatever folder the
    session or the script is in, never the one meant."""
    if not field_valid("mae_path", value):
        message, fix = FIELD_RULES["mae_path"]
        raise InputError(message, field=option, value=show_value("mae_path", value), fix=fix)


def to_plain(value: Any) -> Any:
    """Copy Ansible's wrapped values (tagged strings and numbers, lazy mappings) into
    exact built-in types: pickle and execnet cannot carry the tags, and nothing
    downstream needs them."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if type(value).__name__ == "AnsibleVaultEncryptedUnicode":
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_plain(item) for item in value]
    return value


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class _HostChecker:
    def __init__(self, host: str, base_dir: Path) -> None:
        self.host = host
        self.base_dir = base_dir
        self.result = HostValidation(host)
        self.bad_fields: set[tuple[int, str]] = set()
        self.labels: dict[int, str] = {}

    def error(
        self,
        message: str,
        *,
        index: int | None,
        field_name: str | None,
        value: str | None = None,
        fix: str | None = None,
    ) -> None:
        if index is not None and field_name is not None:
            self.bad_fields.add((index, field_name))
        rule_fix = FIELD_RULES.get(field_name or "", ("", None))[1]
        self.result.errors.append(
            InputError(
                message,
                host=self.host,
                entity=self.labels.get(index, f"#{index + 1}") if index is not None else None,
                field=field_name,
                value=value,
                fix=fix or rule_fix,
            )
        )

    def label_entities(self, items: list[Any]) -> None:
        for index, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            ok = isinstance(name, str) and field_valid("name", name)
            self.labels[index] = name if ok and isinstance(name, str) else f"#{index + 1}"

    # --- schema layer -------------------------------------------------------------------
    def schema_errors(self, items: Any) -> None:
        if checker(ENTITIES_SCHEMA).is_valid(items):  # the common case, without jsonschema
            return
        errors = sorted(
            validator(ENTITIES_SCHEMA).iter_errors(items),
            key=lambda err: [str(step) for step in err.absolute_path],
        )
        for err in errors:
            path = list(err.absolute_path)
            if not path:
                rule = FIELD_RULES[ENTITIES_VAR][0]
                self.error(
                    f"{ENTITIES_VAR} {rule}",
                    index=None,
                    field_name=ENTITIES_VAR,
                    value=show_value(ENTITIES_VAR, items),
                )
                continue
            index = int(path[0])
            if len(path) == 1:
                self.entity_level_error(index, err)
            else:
                self.field_error(index, str(path[1]), err)

    def entity_level_error(self, index: int, err: ValidationError) -> None:
        instance = err.instance
        if err.validator == "type":
            self.error(
                f"each entity must be a mapping of fields, not {type(instance).__name__}",
                index=index,
                field_name=None,
                fix="write each entity as a YAML mapping (name:, company_code:, ...)",
            )
        elif err.validator == "required":
            then_branch = "then" in list(err.schema_path)
            for missing in err.validator_value:
                if missing in instance:
                    continue
                why = f" for edition {instance.get('edition')}" if then_branch else ""
                self.error(f"missing required field{why}", index=index, field_name=missing)
        elif err.validator == "additionalProperties":
            known = sorted(load_schema(ENTITIES_SCHEMA)["$defs"]["entity"]["properties"])
            for extra in sorted(set(instance) - set(known)):
                guess = difflib.get_close_matches(extra, known, n=1)
                hint = f"did you mean {guess[0]}? Otherwise " if guess else ""
                # The value of an unknown field is never shown: it may be a misspelt password.
                self.error(
                    "unknown field",
                    index=index,
                    field_name=extra,
                    fix=f"{hint}remove or rename it; known fields: {', '.join(known)}",
                )
        else:  # pragma: no cover - the entity schema has no other entity-level keyword
            self.error(f"entity is invalid ({err.validator})", index=index, field_name=None)

    def field_error(self, index: int, field_name: str, err: ValidationError) -> None:
        if (index, field_name) in self.bad_fields:
            return  # one message per field is enough
        value = err.instance if len(err.absolute_path) == 2 else None
        rule = FIELD_RULES.get(field_name, ("is invalid", ""))[0]
        if err.validator == "type":
            found = "a boolean" if isinstance(value, bool) else type(value).__name__
            message = f"{rule} (got {found})"
        else:
            message = rule
        self.error(message, index=index, field_name=field_name, value=show_value(field_name, value))

    # --- semantic layer -----------------------------------------------------------------
    def unrendered_templates(self, index: int, item: dict[str, Any]) -> None:
        for field_name, value in item.items():
            if _is_template(value):
                self.error(
                    "contains an unrendered Jinja2 expression",
                    index=index,
                    field_name=field_name,
                    value=show_value(field_name, value),
                    fix="a vars file read alone resolves only the variables it defines: "
                    "give its inventory instead (-i INVENTORY -l HOST), which resolves "
                    "group_vars, vault values and inventory_dir as the playbooks do, or define "
                    "the variable in the same file",
                )

    def edition_fields(self, index: int, item: dict[str, Any]) -> None:
        edition = item.get("edition")
        if edition not in ("spc", "onpremise"):
            return
        for field_name, owner in _EDITION_ONLY.items():
            if field_name in item and owner != edition:
                self.error(
                    f"only applies to edition {owner}, this entity is {edition}",
                    index=index,
                    field_name=field_name,
                    value=show_value(field_name, item[field_name]),
                    fix=f"remove {field_name}, or set edition: {owner}",
                )

    def normalise_server(self, index: int, item: dict[str, Any]) -> None:
        server = item.get("azure_sql_server")
        if (index, "azure_sql_server") in self.bad_fields or not isinstance(server, str):
            return
        if server.endswith(AZURE_SQL_SUFFIX):
            short = server[: -len(AZURE_SQL_SUFFIX)]
            item["azure_sql_server"] = short
            self.result.notes.append(
                f"host {self.host}, entity {self.labels[index]}, field azure_sql_server: "
                f"FQDN {server!r} shortened to {short!r} (the inventory keeps the short name)"
            )

    def vendor_settings(self, index: int, item: dict[str, Any]) -> None:
        """Read the entity's vendor file (any layout: it is merged, never checked against
        sagefleet's template schema)."""
        raw, package = item.get("vendor_settings"), item.get("vendor_package")
        if (index, "vendor_settings") in self.bad_fields or (
            index,
            "vendor_package",
        ) in self.bad_fields:
            return
        if raw is not None and package is not None:
            self.error(
                "vendor_settings and vendor_package are both given",
                index=index,
                field_name="vendor_package",
                value=show_value("vendor_package", package),
                fix="give one: the Setup.zip (vendor_package) or its settings.json "
                "(vendor_settings)",
            )
            return
        field_name = "vendor_package" if package is not None else "vendor_settings"
        try:
            if package is not None:
                path = resolve(str(package), self.base_dir)
                document, source = load_vendor_package(path)
            elif isinstance(raw, str) and raw.lstrip()[:1] in ("{", "["):
                # The document's text (a vault variable holding the file), not a path:
                # never shown, it holds the connection's passwords.
                document, source = inline_document(raw), "inline document"
            elif isinstance(raw, str):
                path = resolve(raw, self.base_dir)
                document, source = load_vendor_settings(path), str(path)
            elif raw is not None:
                document, source = inline_document(raw), "inline document"
            else:
                return
        except InputError as exc:
            self.error(
                f"unusable: {exc.message}",
                index=index,
                field_name=field_name,
                value=show_value(field_name, exc.value),
                fix=exc.fix,
            )
            return
        item["vendor_settings"] = document
        item["vendor_source"] = source

    def build(self, index: int, item: dict[str, Any]) -> None:
        if any(bad_index == index for bad_index, _ in self.bad_fields) or any(
            err.entity == self.labels[index] and err.field is None for err in self.result.errors
        ):
            return
        analytic_plan = item["analytic_plan"]
        self.result.entities.append(
            Entity(
                name=item["name"],
                company_code=item["company_code"],
                analytic_plan=int(analytic_plan),
                edition=item["edition"],
                sage_user=item["sage_user"],
                sage_password=item["sage_password"],
                sql_user=item["sql_user"],
                sql_password=item["sql_password"],
                mae_path=item["mae_path"],
                pdf_storage=item["pdf_storage"],
                azure_sql_server=item.get("azure_sql_server"),
                sql_instance=item.get("sql_instance"),
                database=item.get("database"),
                vendor_settings=item.get("vendor_settings"),
                vendor_source=item.get("vendor_source"),
            )
        )

    def cross_entity(self) -> None:
        """Collapse identical duplicates; reject different entities sharing a name or database."""
        unique: list[Entity] = []
        for entity in self.result.entities:
            if entity not in unique:
                unique.append(entity)
        self.result.entities = unique
        seen_names: dict[str, Entity] = {}
        seen_databases: dict[tuple[str, ...], Entity] = {}
        seen_mae: dict[str, Entity] = {}
        for entity in unique:
            first = seen_names.setdefault(entity.name.casefold(), entity)
            if first is not entity:
                self.conflict(entity, first, "name", entity.name, "a connection name")
                continue
            database = (entity.database or "").casefold()
            if database:
                key = (entity.edition, entity.server.casefold(), database)
                first = seen_databases.setdefault(key, entity)
                if first is not entity:
                    where = f"{entity.server}/{entity.database}"
                    self.conflict(entity, first, "database", where, "the database")
                    continue
            mae = entity.mae_path.replace("/", "\\").casefold()
            first = seen_mae.setdefault(mae, entity)
            if first is not entity:
                self.conflict(entity, first, "mae_path", entity.mae_path, "the .MAE file")

    def conflict(
        self, entity: Entity, first: Entity, field_name: str, value: str, what: str
    ) -> None:
        differs = ", ".join(entity.differing_fields(first))
        self.result.errors.append(
            InputError(
                f"{what} is also used by entity {first.name!r} with different settings "
                f"(differs in: {differs})",
                host=self.host,
                entity=entity.name,
                field=field_name,
                value=show_value(field_name, value),
                fix="connect each Sage company file once per host: remove one of the two "
                "entities or correct its values",
            )
        )


def refuse_misspelt(host: str, variables: Mapping[str, Any]) -> None:
    """Stop before any host is contacted when a ``sagefleet_*`` name is a slip of a
    declared variable (sagefleet.variables.unknown_errors): it would not be read."""
    errors = unknown_errors(host, variables)
    if errors:
        raise ValidationFailed(errors, title=f"{host}: sagefleet variables it does not know")


def validate_host(
    host: str,
    host_vars: Mapping[str, Any],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    template: TemplatePath = None,
    check_render: bool = True,
) -> HostValidation:
    """Validate one host's ``sagefleet_entities`` and collect every problem.

    A host without the variable has no entities and no errors. When the
    entities are valid and ``check_render`` is set, they are also rendered and
    merged, so that template errors and merge conflicts surface here too,
    before any host is touched. Relative ``vendor_settings`` / ``vendor_package``
    paths are read from ``base_dir`` (default: the host's ``inventory_dir``, else
    the current directory).
    """
    # Relative vendor paths start where a relative sagefleet_agent_profile does: the
    # inventory's folder (Ansible's inventory_dir), else the current directory.
    folder = base_dir if base_dir is not None else host_vars.get("inventory_dir")
    checker = _HostChecker(host, Path(str(folder)) if folder else Path.cwd())
    if ENTITIES_VAR not in host_vars:
        return checker.result
    items = to_plain(host_vars[ENTITIES_VAR])
    if isinstance(items, list):
        checker.label_entities(items)
        for index, item in enumerate(items):
            if isinstance(item, dict):
                checker.unrendered_templates(index, item)
    checker.schema_errors(items)
    if not isinstance(items, list):
        return checker.result
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        checker.edition_fields(index, item)
        checker.normalise_server(index, item)
        checker.vendor_settings(index, item)
        checker.build(index, item)
    checker.cross_entity()
    result = checker.result
    if check_render and not result.errors and result.entities:
        try:
            options = settings_options(host, host_vars)
            # Under the vendor source, a missing vendor file is reported where the
            # document is needed (build_host_settings): preflight does not need it.
            if options.source == "template" or all(
                entity.vendor_settings is not None for entity in result.entities
            ):
                host_document(host, result.entities, options, template=template)
        except ValidationFailed as failed:
            result.errors.extend(failed.errors)
        except InputError as exc:
            result.errors.append(exc)
    return result


def validate_fleet(
    hostvars: Mapping[str, Mapping[str, Any]],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    template: TemplatePath = None,
) -> list[InputError]:
    """Every input error of every host, in host order, so that one run shows all fixes at once."""
    errors: list[InputError] = []
    for host in sorted(hostvars):
        errors.extend(
            validate_host(host, hostvars[host], base_dir=base_dir, template=template).errors
        )
    return errors


def check_fleet(
    hostvars: Mapping[str, Mapping[str, Any]],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    template: TemplatePath = None,
) -> dict[str, HostEntities]:
    """Validate the fleet and return each host's entities, or raise :class:`ValidationFailed`.

    This is the gate to call before touching any host: it raises once, with the
    full list of problems, instead of failing host by host halfway through a run.
    """
    errors: list[InputError] = []
    fleet: dict[str, HostEntities] = {}
    for host in sorted(hostvars):
        result = validate_host(host, hostvars[host], base_dir=base_dir, template=template)
        errors.extend(result.errors)
        if ENTITIES_VAR in hostvars[host]:
            fleet[host] = HostEntities(host, tuple(result.entities), tuple(result.notes))
    if errors:
        raise ValidationFailed(errors, title="sagefleet_entities are invalid")
    return fleet


def _require_entities(host: str, host_vars: Mapping[str, Any]) -> None:
    if ENTITIES_VAR not in host_vars:
        raise ValidationFailed(
            [
                InputError(
                    f"{ENTITIES_VAR} is not defined",
                    host=host,
                    field=ENTITIES_VAR,
                    fix=f"define {ENTITIES_VAR} in host_vars/{host}.yml, or leave this host "
                    "out of the play",
                )
            ],
            title="no entities",
        )


def entities_for_host(
    host: str,
    host_vars: Mapping[str, Any],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    template: TemplatePath = None,
) -> HostEntities:
    """One host's validated entities, for the action plugin; a host without any is an error."""
    _require_entities(host, host_vars)
    return check_fleet({host: host_vars}, base_dir=base_dir, template=template)[host]


def build_host_settings(
    host: str,
    host_vars: Mapping[str, Any],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    template: TemplatePath = None,
) -> HostSettings:
    """The host's settings.json, from its vendor files or its template, as every writer
    (settings playbook, deploy) and reader (verify, CLI) builds it.

    Raises :class:`ValidationFailed` (every problem listed: invalid entities, an entity
    without a vendor file under the vendor source, merge conflicts) or InputError.
    """
    _require_entities(host, host_vars)
    result = validate_host(
        host, host_vars, base_dir=base_dir, template=template, check_render=False
    )
    if result.errors:
        raise ValidationFailed(result.errors, title="sagefleet_entities are invalid")
    options = settings_options(host, host_vars)
    return host_document(host, result.entities, options, template=template)


def errors_text(errors: Sequence[InputError]) -> str:
    """One line per error, for logs and the CLI."""
    return "\n".join(error.render() for error in errors)
