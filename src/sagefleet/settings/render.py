"""Render entities into settings documents with a Jinja2 template, then merge them per host."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from sagefleet.agent.profile import MergeKey
from sagefleet.errors import InputError
from sagefleet.settings.errors import ValidationFailed
from sagefleet.settings.jsonio import loads_strict
from sagefleet.settings.merge import merge_settings
from sagefleet.settings.model import Entity
from sagefleet.settings.redact import DEFAULT_SECRET_KEYS
from sagefleet.settings.schemas import settings_schema_problems

DEFAULT_TEMPLATE_NAME = "settings_entity.json.j2"
#: The template layout's own key: its connections are named by ``name`` (``companyCode``
#: is unique too, so detection alone would refuse the list as ambiguous).
TEMPLATE_KEYS = (MergeKey("connections", "name"),)
#: Value of ``schemaVersion`` written by the default template (assumed layout, version 1).
SETTINGS_SCHEMA_VERSION = 1

TemplatePath = str | os.PathLike[str] | None


def _json_filter(value: Any) -> str:
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing variable
    return json.dumps(value, ensure_ascii=False)


def _environment() -> SandboxedEnvironment:
    # Sandboxed: an overriding template is data from the inventory, not code.
    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters["json"] = _json_filter
    return env


@cache
def _default_template_text() -> str:
    return (
        resources.files("sagefleet")
        .joinpath("templates", DEFAULT_TEMPLATE_NAME)
        .read_text(encoding="utf-8")
    )


def template_label(template: TemplatePath) -> str:
    """How a template is named in messages."""
    return f"template {template}" if template is not None else f"template {DEFAULT_TEMPLATE_NAME}"


def load_template(template: TemplatePath = None) -> jinja2.Template:
    """Compile the shipped template, or the one at ``template`` to adapt the assumed layout."""
    label = template_label(template)
    bad = partial(InputError, field="template", value=str(template))
    try:
        text = _default_template_text() if template is None else Path(template).read_text("utf-8")
    except OSError as exc:
        fix = "point to an existing, readable Jinja2 template"
        raise bad(f"cannot read {label}: {exc.strerror or exc}", fix=fix) from None
    try:
        return _environment().from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        message = f"{label} has a syntax error at line {exc.lineno}: {exc.message}"
        raise bad(message, fix="fix the Jinja2 syntax; start from the shipped template") from None


def render_entity(
    entity: Entity,
    *,
    template: TemplatePath = None,
    host: str | None = None,
    compiled: jinja2.Template | None = None,
) -> dict[str, Any]:
    """Render one entity into a settings document and check it against the settings schema.

    The output is parsed strictly and validated, so that a broken override
    template is caught on the bastion, not by the agent on a server.
    """
    label = template_label(template)
    bad = partial(InputError, host=host, entity=entity.name, field="template")
    tmpl = compiled or load_template(template)
    try:
        text = tmpl.render(
            entity=entity.template_context(),
            schema_version=SETTINGS_SCHEMA_VERSION,
            host=host,
        )
    except (jinja2.TemplateError, TypeError) as exc:
        fix = "use only the variables listed at the top of the shipped template"
        raise bad(f"{label} failed: {exc}", fix=fix) from None
    try:
        document = loads_strict(text, source=f"{label} output")
    except InputError as exc:
        fix = "pipe every value through the `json` filter and check commas"
        raise bad(f"{label} did not produce valid JSON: {exc.message}", fix=fix) from None
    problems = settings_schema_problems(document)
    if problems:
        fix = "align the template with settings.schema.json"
        raise ValidationFailed(
            [bad(f"{label} output breaks the settings schema {p}", fix=fix) for p in problems],
            title="rendered settings are invalid",
        )
    if not isinstance(document, dict):  # pragma: no cover - the schema requires an object
        raise TypeError("settings document must be an object")
    return document


def render_host_settings(
    entities: Sequence[Entity],
    *,
    template: TemplatePath = None,
    host: str | None = None,
    secret_keys: Iterable[str] = DEFAULT_SECRET_KEYS,
) -> dict[str, Any]:
    """Render every entity of a host in the template layout (an ASSUMPTION of the vendor's
    format, chosen with ``sagefleet_settings_source: template``) and merge them into one
    document.

    Raises :class:`~sagefleet.settings.errors.MergeFailed` when two sources
    disagree on a value (never last-one-wins) and :class:`ValidationFailed`
    when the merged document breaks the settings schema.
    """
    compiled = load_template(template)
    label = template_label(template)
    documents: list[dict[str, Any]] = []
    sources: list[str] = []
    for entity in entities:
        documents.append(render_entity(entity, template=template, host=host, compiled=compiled))
        sources.append(f"entity {entity.name} ({label})")
    merged: dict[str, Any] = merge_settings(
        documents, sources, keys=TEMPLATE_KEYS, secret_keys=secret_keys, host=host
    )
    problems = settings_schema_problems(merged, secret_keys)
    if problems:
        raise ValidationFailed(
            [
                InputError(
                    f"merged settings break the settings schema {problem}",
                    host=host,
                    field="settings",
                    fix="align the template with settings.schema.json",
                )
                for problem in problems
            ],
            title="merged settings are invalid",
        )
    return merged
