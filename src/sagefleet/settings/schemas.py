"""Access to the shipped JSON Schemas and readable reports of their errors."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from sagefleet import schemas
from sagefleet.settings.merge import format_path
from sagefleet.settings.redact import DEFAULT_SECRET_KEYS, MASK, is_secret_path

ENTITIES_SCHEMA = "entities.schema.json"
SETTINGS_SCHEMA = "settings.schema.json"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Load a schema shipped as package data (``sagefleet/schemas``)."""
    return schemas.load(name)


def schema_version(name: str) -> str:
    """The version carried by the schema's ``$id`` (its last ``:``-separated part)."""
    return str(load_schema(name)["$id"]).rsplit(":", 1)[-1]


@cache
def validator(name: str) -> Draft202012Validator:
    """A checked, cached validator: schemas are fixed at install time."""
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@cache
def checker(name: str) -> Any:
    """jsonschema-rs's validator of the same schema: whether a document is valid, about a
    hundred times faster than ``validator``; ``validator`` then words what is wrong
    (remote/contracts.py does the same for the snippets' output)."""
    return jsonschema_rs.Draft202012Validator(load_schema(name))


def _error_path(error: ValidationError) -> str:
    steps: list[Any] = list(error.absolute_path)
    return format_path(tuple(str(step) for step in steps))


def _describe(error: ValidationError, secret: bool) -> str:
    # jsonschema messages quote the instance: rebuild them so secrets never show.
    instance = error.instance
    shown = MASK if secret else json.dumps(instance, ensure_ascii=False)[:60]
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in instance]
        return f"missing member(s) {', '.join(missing)}"
    if error.validator == "type":
        return f"must be of type {error.validator_value}, not {type(instance).__name__}"
    if error.validator in ("const", "enum"):
        return f"{shown} is not one of {json.dumps(error.validator_value)}"
    if error.validator in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
        return f"{shown} breaks {error.validator} {error.validator_value}"
    return f"{shown} fails the {error.validator} rule"


def settings_schema_problems(
    document: Any, secret_keys: Iterable[str] = DEFAULT_SECRET_KEYS
) -> list[str]:
    """Problems of a settings document against the (assumed) settings schema, secrets masked."""
    if checker(SETTINGS_SCHEMA).is_valid(document):
        return []
    keys = tuple(secret_keys)
    problems = []
    for error in sorted(validator(SETTINGS_SCHEMA).iter_errors(document), key=_error_path):
        names = [step for step in error.absolute_path if isinstance(step, str)]
        secret = is_secret_path(names, keys)
        problems.append(f"at {_error_path(error)}: {_describe(error, secret)}")
    return problems
