"""A role's argument spec, checked for every host of the play at once.

sagefleet_validate checks it with Ansible's own validator in the bastion, in place of one
worker per host: docs/operations.md, "Ansible conventions".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from sagefleet.ansible.roledocs import load_spec
from sagefleet.errors import InputError
from sagefleet.settings.redact import MASK, is_secret_key
from sagefleet.settings.validate import to_plain


def options(role: Path | str) -> dict[str, Any]:
    """The options of a role's ``main`` entry point."""
    return dict(load_spec(Path(role))["main"].get("options") or {})


def declared_options(role: str) -> dict[str, Any]:
    """The options of role ``role``'s ``main`` entry point as declared in sagefleet.variables
    (its meta/argument_specs.yml is generated from them), without the role's folder."""
    from sagefleet import variables

    return {var.name: variables.spec_option(var) for var in variables.for_role(role)}


def check(
    host: str, variables: Mapping[str, Any], spec: Mapping[str, Any], *, role: str
) -> list[InputError]:
    """One error per variable of ``variables`` that the role's ``spec`` refuses."""
    errors: list[InputError] = []
    for name in sorted(set(spec) & set(variables)):
        # Built-in types: Ansible's validator deep-copies what it checks, and a copy of
        # Ansible's tagged values (an inventory's entities) costs ten times more.
        value = to_plain(variables[name])
        result = ArgumentSpecValidator({name: spec[name]}).validate({name: value})
        secret = is_secret_key(name) or bool(spec[name].get("no_log"))
        for message in result.error_messages:
            errors.append(
                InputError(
                    # Ansible's messages may quote the value: not for a secret.
                    f"refused by the argument spec of role {role}"
                    + ("" if secret else f": {message}"),
                    host=host,
                    field=name,
                    value=MASK if secret else repr(value),
                    fix=f"see the variables of role {role} in its README",
                )
            )
    return errors
