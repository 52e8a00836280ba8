"""inspect the agent's Setup.zip, build test packages

Read the agent package on the bastion as Windows would read it, or build a test package
for rehearsals. Exit codes: 0 success, 2 refused package or bad option.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from sagefleet.agent import profile as agent_profile
from sagefleet.cli.common import check_output, command, command_group
from sagefleet.errors import InputError
from sagefleet.installer_file import TECHNOLOGY_NAMES
from sagefleet.package import (
    SIMULATOR_METADATA,
    STUBS,
    PackageInfo,
    build_test_package,
    built_beside,
    info_to_dict,
    inspect,
)


def add_subparser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``package inspect|build`` on the main CLI's sub-parsers."""
    actions = command_group(subparsers, "package", __doc__, required=True)

    show = command(actions, "inspect", run_inspect)
    show.add_argument("package", type=Path, metavar="SETUP.zip", help="the package")
    show.add_argument(
        "--format", choices=["table", "json"], default="table", help="output (default table)"
    )
    show.add_argument("--sha256", help="refuse the package unless its SHA-256 is this one")
    show.add_argument(
        "--agent-profile",
        metavar="PROFILE.yml",
        help="agent profile giving the silent switches (default: the shipped one)",
    )

    build = command(actions, "build", run_build)
    build.add_argument("out", type=Path, metavar="OUT.zip", help="where to write the package")
    build.add_argument("--version", required=True, help="the agent version, e.g. 3.2.0")
    build.add_argument(
        "--labels",
        default="v9.0,v10.0,v11.0,v12.0",
        help="Sage version labels, comma-separated (default v9.0,v10.0,v11.0,v12.0)",
    )
    build.add_argument(
        "--technology",
        choices=list(STUBS),
        default="inno",
        help="installer technology of the stand-ins (default inno)",
    )
    build.add_argument(
        "--exit-code",
        type=int,
        default=0,
        help="exit code the simulated installer gives (e.g. 1603 to rehearse a rollback)",
    )
    build.add_argument(
        "--fail-service-start",
        action="store_true",
        help="the simulated agent service fails to start after the install",
    )


def _switches(technology: str, profile: agent_profile.AgentProfile) -> list[str] | None:
    args = profile.silent_args(technology)
    return list(args) if args is not None else None


def _technology(technology: str) -> str:
    name = TECHNOLOGY_NAMES[technology]
    return name if name == technology else f"{name} ({technology})"


def _document(info: PackageInfo, profile: agent_profile.AgentProfile) -> dict[str, Any]:
    data = info_to_dict(info)
    data["agent_profile"] = profile.origin
    installers = data["installers"]
    assert isinstance(installers, list)
    for item in installers:
        item["switches"] = _switches(str(item["technology"]), profile)
    return data


def _render(info: PackageInfo, profile: agent_profile.AgentProfile) -> str:
    settings = "present" if info.has_settings else "MISSING"
    lines = [
        f"package   {info.path}",
        f"sha256    {info.sha256}",
        f"size      {info.size} bytes, settings.json {settings}",
        f"version   {info.agent_version or 'unknown'}"
        + (f" ({info.version_source})" if info.version_source else ""),
    ]
    if any(i.version_source == SIMULATOR_METADATA for i in info.installers):
        lines.append(
            "          a simulator package: the version comes from its .sagefleet.json "
            "metadata, not from the installers"
        )
    if info.agent_version is None:
        lines.append("          set sagefleet_agent_target_version: the package does not say it")
    for installer in info.installers:
        switches = _switches(installer.technology, profile)
        product = ", ".join(p for p in (installer.product_name, installer.company_name) if p)
        lines += [
            "",
            PurePosixPath(installer.path).name,
            f"  Sage label   {installer.label}",
            f"  technology   {_technology(installer.technology)}",
        ]
        lines += [
            f"  {'evidence' if n == 0 else '':<12} {item}"
            for n, item in enumerate(installer.evidence)
        ]
        lines.append(
            f"  version      {installer.agent_version or 'unknown'}"
            + (f" ({installer.version_source})" if installer.version_source else "")
        )
        if product:
            lines.append(f"  product      {product}")
        if switches is None:
            lines.append(
                "  switches     none known for this technology: deploy needs "
                "sagefleet_agent_installer_arguments"
            )
        else:
            lines.append(f"  switches     {' '.join(switches)}")
    lines += ["", f"switches from the agent profile: {profile.origin}"]
    return "\n".join(lines) + "\n"


#: The inventory variables package errors name, and this command's arguments for them.
_ARGUMENTS = {"sagefleet_agent_package": "SETUP.zip", "sagefleet_agent_package_sha256": "--sha256"}


def run_inspect(args: argparse.Namespace) -> int:
    """each installer's technology, version and silent switches

    Check the package as deploy.yml does before touching any host, then show each
    installer: its Sage version label, its technology (from the markers in the file), the
    evidence, its version resource and the silent switches the agent profile gives that
    technology.
    """
    profile = agent_profile.load(args.agent_profile)
    try:
        info = inspect(args.package, expected_sha256=args.sha256)
    except InputError as exc:
        # Said of the command's own arguments, not the inventory variables they stand for.
        raise exc.said_of(_ARGUMENTS.get(exc.field or "", exc.field)) from None
    if args.format == "json":
        sys.stdout.write(json.dumps(_document(info, profile), indent=2) + "\n")
    else:
        sys.stdout.write(_render(info, profile))
    return 0


def run_build(args: argparse.Namespace) -> int:
    """write a test package for rehearsals (never a vendor binary)

    Write a Setup.zip whose installers are sagefleet's stand-ins: real Windows programs
    (or an MSI) of the given technology, whose version resource says --version, each with
    the metadata the simulated fleet's installer reads.
    """
    check_output(args.out, "OUT.zip")
    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    # Built and inspected beside OUT.zip, which it replaces only when deploy would take it.
    with built_beside(args.out) as partial:
        build_test_package(
            partial,
            agent_version=args.version,
            labels=labels,
            technology=args.technology,
            exit_code=args.exit_code,
            fail_service_start=args.fail_service_start,
        )
        try:
            info = inspect(partial)
        except InputError as exc:
            raise InputError(
                "the package built would be refused, so it was not written: "
                + exc.message.replace(str(partial), str(args.out)),
                field="OUT.zip",
                value=str(args.out),
            ) from None
    print(
        f"test package written: {args.out} (agent {info.agent_version}, "
        f"{TECHNOLOGY_NAMES[args.technology]} stand-ins {', '.join(info.labels())}, "
        f"sha256 {info.sha256})"
    )
    return 0
