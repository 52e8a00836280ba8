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
]
