"""Read host variables from YAML for the CLI: strict YAML and simple variable references."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from sagefleet.errors import InputError, unreadable
from sagefleet.settings.model import ENTITIES_VAR

#: Chained references (host_vars -> group vars -> vault) resolve within this many passes.
MAX_RESOLVE_PASSES = 5


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _vault(loader: _StrictLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None,
        None,
        "found an inline !vault value, which this command cannot decrypt",
        node.start_mark,
    )


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_StrictLoader.add_constructor("!vault", _vault)


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Load YAML refusing duplicate keys, so that a pasted entity cannot hide another silently."""
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise unreadable("YAML file", file_path, exc) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(
            f"not valid YAML: {exc}".replace("\n", " "),
            value=str(file_path),
            fix="fix the YAML; decrypt vault values first (ansible-vault view) if any",
        ) from None


def load_hosts_file(
    path: str | os.PathLike[str], host: str | None = None
) -> dict[str, dict[str, Any]]:
    """Read a vars file holding either one host's variables or a mapping host -> variables.

    A top-level ``sagefleet_entities`` key means one host, named ``host`` or
    after the file. Simple ``{{ variable }}`` references are resolved within
    each host's variables, as Ansible would for plain variables.
    """
    data = load_yaml(path)
    if not isinstance(data, Mapping):
        raise InputError(
            "the file must hold a mapping: one host's variables, or host -> variables",
            value=str(path),
            fix=f"start the file with {ENTITIES_VAR}: or with a host name",
        )
    if ENTITIES_VAR in data:
        hosts = {host or Path(path).stem: dict(data)}
    else:
        hosts = {}
        for name, host_vars in data.items():
            if not isinstance(host_vars, Mapping):
                raise InputError(
                    "each host must map to its variables",
                    host=str(name),
                    value=str(path),
                    fix=f"write '{name}:' followed by indented variables such as {ENTITIES_VAR}",
                )
            hosts[str(name)] = dict(host_vars)
    return {name: resolve_references(host_vars) for name, host_vars in hosts.items()}


def _resolve(value: Any, context: Mapping[str, Any], env: SandboxedEnvironment) -> Any:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        expression = value.strip()
        try:
            if expression.startswith("{{") and expression.endswith("}}") and (
                expression.count("{{") == 1
            ):
                # A whole-value reference keeps the referenced type (an int stays an int).
                compiled = env.compile_expression(expression[2:-2].strip(), undefined_to_none=False)
                result = compiled(**context)
                if isinstance(result, jinja2.Undefined):
                    return value
                return result
            return env.from_string(value).render(**context)
        except jinja2.TemplateError:
            return value
    if isinstance(value, Mapping):
        return {key: _resolve(item, context, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, context, env) for item in value]
    return value


def resolve_references(host_vars: Mapping[str, Any]) -> dict[str, Any]:
    """Replace ``{{ name }}`` references by the variables of the same host.

    Only what is defined in the same mapping is resolved; anything else is left
    as written and reported by validation as an unrendered expression.
    """
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    current: dict[str, Any] = dict(host_vars)
    for _ in range(MAX_RESOLVE_PASSES):
        resolved = {key: _resolve(value, current, env) for key, value in current.items()}
        if resolved == current:
            break
        current = resolved
    return current
