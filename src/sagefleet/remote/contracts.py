"""The output contract of each snippet: a JSON Schema its document must follow.

``parse_result`` validates every document before any code reads it: docs/architecture.md,
"Wire contract"; why jsonschema-rs decides and jsonschema words a refusal:
docs/performance.md.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from sagefleet import schemas
from sagefleet.remote.errors import RemoteError, SnippetFailed

SCHEMA_PACKAGE = "sagefleet"
SCHEMA_FOLDER = "schemas/snippets"


class ContractViolation(SnippetFailed):
    """A snippet ran (rc 0, one JSON document) but its document breaks its contract.

    A ``SnippetFailed``: every caller that reports a failed snippet for a host
    reports this one the same way.
    """

    def __init__(self, host: str, snippet: str, pointer: str, expected: str, found: str) -> None:
        self.snippet = snippet
        self.rc = 0
        self.pointer = pointer
        self.expected = expected
        self.found = found
        where = f"member {pointer}" if pointer else "the document"
        self.error = (
            f"output does not follow the snippet's contract: {where}: "
            f"expected {expected}, found {found}"
        )
        RemoteError.__init__(self, host, f"snippet {snippet}: {self.error}")


def schema_names() -> list[str]:
    """Names of the snippets that have an output schema."""
    folder = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FOLDER)
    suffix = ".schema.json"
    return sorted(e.name[: -len(suffix)] for e in folder.iterdir() if e.name.endswith(suffix))


def load_schema(name: str) -> dict[str, Any]:
    return schemas.load(f"snippets/{name}.schema.json")


@cache
def _validator(name: str) -> Draft202012Validator | None:
    """The compiled validator of a snippet's schema, once per process (None: no schema)."""
    if name not in schema_names():
        return None
    # The schemas are package data, checked against the meta-schema by the test suite
    # (tests/unit/test_snippet_contracts.py): checking them again here would cost every
    # Ansible worker tens of milliseconds per task.
    return Draft202012Validator(load_schema(name))


@cache
def _checker(name: str) -> Any:
    """jsonschema-rs's validator of the same schema (None: no schema)."""
    if name not in schema_names():
        return None
    return jsonschema_rs.Draft202012Validator(load_schema(name))


def prepare(*names: str) -> None:
    """Compile these snippets' validators now (before a fork, so every worker inherits
    them: compiling the facts schema costs more than validating a hundred documents)."""
    for name in names:
        _validator(name)
        _checker(name)


def pointer(path: Any) -> str:
    """RFC 6901 JSON pointer of a member path ("" is the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def describe(value: Any) -> str:
    """What a value is, without quoting text: outputs may hold secrets."""
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    if isinstance(value, str):
        return f"a string of {len(value)} character{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        names = ", ".join(sorted(str(k) for k in value)[:8])
        more = ", ..." if len(value) > 8 else ""
        return f"an object with members {names}{more}" if value else "an empty object"
    if isinstance(value, list):
        return f"an array of {len(value)} item(s)"
    if value is None:
        return "null"
    return f"{kind} {json.dumps(value)}"


def _types(value: Any) -> str:
    names = [value] if isinstance(value, str) else list(value)
    return " or ".join(str(n) for n in names)


def _form(schema: dict[str, Any]) -> str:
    """One alternative of an anyOf, in words."""
    if "required" in schema and "type" not in schema:
        return "a member " + " and ".join(repr(m) for m in schema["required"])
    if "$ref" in schema:
        return "one " + str(schema["$ref"]).rsplit("/", 1)[-1].replace("_", " ")
    if schema.get("type") == "array":
        return "an array"
    return _types(schema.get("type", "a value of another form"))


def _expected(error: ValidationError) -> tuple[str, str, str]:
    """(pointer, expected, found) of one validation error, in the operator's words."""
    where = pointer(error.absolute_path)
    validator, value, instance = error.validator, error.validator_value, error.instance
    if validator == "required":
        missing = next((m for m in value if isinstance(instance, dict) and m not in instance), "?")
        return f"{where}/{missing}", f"a member {missing!r}", "none (the member is missing)"
    if validator == "type":
        return where, _types(value), describe(instance)
    if validator == "const":
        return where, json.dumps(value), describe(instance)
    if validator == "enum":
        return where, "one of " + ", ".join(json.dumps(v) for v in value), describe(instance)
    if validator == "pattern":
        return where, f"a string matching {value}", describe(instance)
    if validator in ("anyOf", "oneOf"):
        forms = [_form(s) for s in value if isinstance(s, dict)]
        return where, " or ".join(dict.fromkeys(forms)), describe(instance)
    return where, f"{validator} {json.dumps(value)}", describe(instance)


def validate_output(host: str, name: str, document: Any) -> None:
    """Raise ContractViolation when ``document`` breaks snippet ``name``'s output schema.

    A name without a schema (not a shipped snippet) has no contract to check; a
    test keeps every shipped snippet covered.
    """
    checker = _checker(name)
    if checker is None or checker.is_valid(document):
        return
    validator = _validator(name)
    assert validator is not None
    error = best_match(validator.iter_errors(document))
    if error is None:
        return
    where, expected, found = _expected(error)
    raise ContractViolation(host, name, where, expected, found)
