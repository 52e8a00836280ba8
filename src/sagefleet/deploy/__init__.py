"""Install or upgrade the agent on one host, never leaving it worse than it was, and
judge each wave of a rollout. The order of a deploy: docs/deploy.md."""

from sagefleet.deploy.host import Deployer, deploy_host
from sagefleet.deploy.inputs import (
    DeployInputs,
    DeployOptions,
    check_inputs,
    check_installer_arguments,
    check_paths,
    deploy_inputs,
    installer_arguments,
    options_from,
    require_entities,
)
from sagefleet.deploy.result import DeployLocked, DeployResult


def warm_up() -> None:
    """Load now what every host's deploy needs (Ansible imports the action plugin in its
    bastion process, then forks a worker per host: each inherits what is loaded here):
    what the preflight gate needs, every snippet with its prelude, their output schemas."""
    from sagefleet import preflight, snippets
    from sagefleet.remote import contracts
    from sagefleet.settings import schemas

    preflight.warm_up()
    snippets.warm_up()
    contracts.prepare(*contracts.schema_names())
    schemas.validator(schemas.SETTINGS_SCHEMA)
    schemas.checker(schemas.SETTINGS_SCHEMA)


__all__ = [
    "DeployInputs",
    "DeployLocked",
    "DeployOptions",
    "DeployResult",
    "Deployer",
    "check_inputs",
    "check_installer_arguments",
    "check_paths",
    "deploy_host",
    "deploy_inputs",
    "installer_arguments",
    "options_from",
    "require_entities",
    "warm_up",
]
