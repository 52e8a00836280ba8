"""validate entities, render and merge the agent's settings.json

Validate entities, render and merge the agent's settings.json. Exit codes: 0 success, 2
usage or input error (invalid entities, a merge conflict, a file that cannot be read), as
every other command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sagefleet.agent.profile import MergeKey
from sagefleet.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    SETTINGS_EXIT_CODES,
    check_output,
    command,
    command_group,
    exit_codes_epilog,
    inventory_options,
    output_option,
    write_output,
)
from sagefleet.deploy.inputs import require_entities
from sagefleet.errors import InputError
from sagefleet.inventory import SAGE_SERVERS, add_vault_arguments
from sagefleet.settings import vendor
from sagefleet.settings.document import DEFAULT_SOURCE, SOURCE_VAR
from sagefleet.settings.errors import ValidationFailed
from sagefleet.settings.jsonio import dumps, loads_strict, settings_sha256
from sagefleet.settings.keys import KEY_CANDIDATES, declared_keys, parse_key_option
from sagefleet.settings.merge import merge_settings
from sagefleet.settings.model import ENTITIES_VAR
from sagefleet.settings.redact import MASK, redact
from sagefleet.settings.render import load_template
from sagefleet.settings.validate import build_host_settings, check_fleet, validate_host
from sagefleet.settings.varsfile import load_hosts_file
from sagefleet.variables import given_or_none

#: The --help epilog of each command (SETTINGS_EXIT_CODES).
EPILOG = {
    "epilog": exit_codes_epilog(SETTINGS_EXIT_CODES),
    "formatter_class": argparse.RawDescriptionHelpFormatter,
}
OUTPUT_HELP = (
    "the file to write the document to, secrets included (mode 600); without it (or with "
    "-), the document is printed with every secret value masked"
)
#: Said on stderr under a document printed with its secrets masked.
MASKED_NOTE = (
    f"note: secret values are shown as {MASK}; -o FILE writes the document itself, "
    "secrets included (mode 600)"
)


def add_subparser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``settings merge|render|validate`` on the main CLI's sub-parsers."""
    actions = command_group(subparsers, "settings", __doc__, required=True)

    merge = command(
        actions,
        "merge",
        run_merge,
        description="True JSON merge of settings.json files, in any layout: lists of "
        "connections keyed by a member (declared with --key, or detected among "
        f"{', '.join(KEY_CANDIDATES)}), identical duplicates collapse, any conflicting value "
        "is an error naming both files and the key path.",
        **EPILOG,
    )
    merge.add_argument(
        "files", nargs="+", type=Path, metavar="FILE.json", help="settings.json files to merge"
    )
    output_option(merge, help=OUTPUT_HELP)
    merge.add_argument(
        "--key",
        action="append",
        default=[],
        type=_key_option,
        metavar="PATH=MEMBER",
        help="the member naming the items of the list at PATH (Connections, a.b.Items, "
        "or . for a top-level list), e.g. Connections=CompanyName; repeatable",
    )

    render = command(actions, "render", run_render, **EPILOG)
    source = render.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--entities",
        type=Path,
        metavar="FILE.yml",
        help="vars file: one host's variables, or host -> variables",
    )
    source.add_argument(
        "-i",
        "--inventory",
        action="append",
        help="Ansible inventory (repeatable); with -l HOST",
    )
    render.add_argument("-l", "--limit", metavar="HOST", help="with -i: the one host to render")
    render.add_argument(
        "--host", help="with --entities: the host to render when the file holds several"
    )
    add_vault_arguments(render)
    template_option(render)
    output_option(render, help=OUTPUT_HELP)

    validate = command(actions, "validate", run_validate, **EPILOG)
    validate.add_argument(
        "file",
        type=Path,
        metavar="FILE.yml",
        nargs="?",
        help="vars file: one host's variables, or host -> variables",
    )
    inventory_options(
        validate,
        required=False,
        help="Ansible inventory (repeatable), not FILE.yml",
        limit="with -i: host pattern (default sage_servers, the playbooks' group)",
        limit_default=SAGE_SERVERS,
    )
    template_option(validate)


def template_option(parser: argparse.ArgumentParser) -> None:
    """--template, for the hosts whose settings.json is rendered (_template_applies)."""
    parser.add_argument(
        "--template",
        type=Path,
        help=f"Jinja2 template replacing the shipped one, for hosts under {SOURCE_VAR}: "
        "template; a file that cannot be read, or hosts that all take the vendor's files, "
        "are refused",
    )


def _inventory_hosts(args: argparse.Namespace, pattern: str) -> dict[str, dict[str, Any]]:
    """host -> variables of ``pattern`` in ``-i``, templated and decrypted as Ansible does.

    Relative paths in them resolve from the current directory, as in the playbooks.
    """
    from sagefleet.inventory import load, vault_options

    found = load(args.inventory, vault=vault_options(args), pattern=pattern, connect=False)
    if not found:
        raise InputError(
            "no host of the inventory matches",
            field="--limit",
            value=pattern,
            fix=f"check the host pattern against {', '.join(args.inventory)}",
        )
    return {h.name: dict(h.variables) for h in found}


def _read_template(template: Path | None) -> None:
    """--template, read and compiled before any entity: a file that is not there (or not
    Jinja2) is an input error whatever the hosts' source."""
    if template is not None:
        try:
            load_template(template)
        except InputError as exc:
            raise exc.said_of("--template") from None


def _template_applies(template: Path | None, hosts: dict[str, dict[str, Any]]) -> None:
    """Refuse --template when every host takes its settings.json from the vendor's files
    (sagefleet_settings_source: vendor): no template is rendered, so it would be ignored."""
    if template is None:
        return
    sources = {
        host: given_or_none(host, variables, SOURCE_VAR) or DEFAULT_SOURCE
        for host, variables in hosts.items()
        if ENTITIES_VAR in variables  # a host without entities renders nothing either way
    }
    if not sources or any(source != "vendor" for source in sources.values()):
        return
    who = (
        f"host {next(iter(sources))} takes its"
        if len(sources) == 1
        else f"the {len(sources)} hosts take their"
    )
    raise InputError(
        f"has no meaning under the vendor source: {who} settings.json from the vendor's "
        f"files ({SOURCE_VAR}: vendor)",
        field="--template",
        value=str(template),
        fix=f"leave --template out, or set {SOURCE_VAR}: template",
    )


def _report(errors: Sequence[InputError]) -> int:
    for error in errors:
        print(f"error: {error.render()}", file=sys.stderr)
    return EXIT_USAGE


def _emit(text: str, output: Path | None) -> None:
    """The document into ``output``, or on standard output with its secrets masked: it holds
    the connections' passwords (vault values decrypted), which a terminal or a CI log must
    never show."""
    if output is None:
        masked = redact(loads_strict(text, source="settings.json"))
        sys.stdout.write(dumps(masked, sort_keys=False))
        print(MASKED_NOTE, file=sys.stderr)
        return
    changed = write_output(output, text, skip_unchanged=True)
    state = "written" if changed else "unchanged"
    print(f"{output}: {state} (sha256 {settings_sha256(text)})", file=sys.stderr)


def _key_option(text: str) -> MergeKey:
    try:
        return parse_key_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_merge(args: argparse.Namespace) -> int:
    """merge the vendor's settings.json files structurally into one"""
    # The description names the key candidates (add_subparser). Conflicts are refused
    # instead of letting the last one win. No schema applies: the vendor's layout is not
    # published, and sagefleet's template schema describes only its own assumed layout.
    check_output(args.output)
    try:
        documents = [vendor.load_vendor_settings(path) for path in args.files]
        keys = tuple(args.key)
        declared_keys(keys, field="--key")
    except InputError as exc:
        return _report([exc])
    sources = [str(path) for path in args.files]
    try:
        merged = merge_settings(documents, sources, keys=keys)
    except ValidationFailed as failed:
        return _report(failed.errors)
    _emit(dumps(merged, sort_keys=False), args.output)
    return EXIT_OK


def _pick_host(hosts: dict[str, dict[str, Any]], wanted: str | None, source: Path) -> str:
    if wanted is not None:
        if wanted not in hosts:
            raise InputError(
                "host not found in the file",
                host=wanted,
                value=str(source),
                fix=f"choose one of: {', '.join(sorted(hosts))}",
            )
        return wanted
    if len(hosts) != 1:
        raise InputError(
            f"the file holds {len(hosts)} hosts",
            value=str(source),
            fix=f"choose one with --host ({', '.join(sorted(hosts))})",
        )
    return next(iter(hosts))


def run_render(args: argparse.Namespace) -> int:
    """build one host's settings.json as a deploy would

    Validate one host's sagefleet_entities and build its settings.json: the entities'
    vendor files merged (sagefleet_settings_source: vendor, the default), or the template
    rendered (sagefleet_settings_source: template); from a vars file (--entities) or from
    the inventory (-i INVENTORY -l HOST, vault values decrypted as ansible-playbook does).
    """
    base_dir: Path | None
    check_output(args.output)
    try:
        _read_template(args.template)
        if args.inventory:
            if not args.limit:
                raise InputError("-i needs -l HOST: the one host to render", field="--limit")
            hosts = _inventory_hosts(args, args.limit)
            if len(hosts) != 1:
                raise InputError(
                    f"render takes one host; the pattern matches {len(hosts)}",
                    field="--limit",
                    value=args.limit,
                    fix=f"name one host ({', '.join(sorted(hosts)[:5])})",
                )
            host = next(iter(hosts))
            base_dir = None
        else:
            if args.limit:
                raise InputError("-l goes with -i; with --entities use --host", field="--limit")
            hosts = load_hosts_file(args.entities, host=args.host)
            host = _pick_host(hosts, args.host, args.entities)
            base_dir = args.entities.resolve().parent
        _template_applies(args.template, {host: hosts[host]})
        fleet = check_fleet({host: hosts[host]}, base_dir=base_dir, template=args.template)
        if host not in fleet:
            raise InputError(
                "sagefleet_entities is not defined",
                host=host,
                field="sagefleet_entities",
                fix="define the host's entities in the file",
            )
        for note in fleet[host].notes:
            print(f"note: {note}", file=sys.stderr)
        settings = build_host_settings(host, hosts[host], base_dir=base_dir, template=args.template)
    except ValidationFailed as failed:
        return _report(failed.errors)
    except InputError as exc:
        return _report([exc])
    _emit(settings.text, args.output)
    return EXIT_OK


def run_validate(args: argparse.Namespace) -> int:
    """check sagefleet_entities and report every problem

    Check one host's variables or a mapping host -> variables (FILE.yml), or the hosts of
    an inventory (-i INVENTORY [-l PATTERN], vault values decrypted as ansible-playbook
    does).
    """
    # Every problem of every host is reported, and the values sagefleet normalised.
    base_dir: Path | None
    try:
        if (args.file is None) == (not args.inventory):
            raise InputError(
                "give a vars file or -i INVENTORY (one of them)",
                field="FILE.yml" if args.file is None else "--inventory",
                fix="sagefleet settings validate FILE.yml, or -i INVENTORY [-l PATTERN]",
            )
        _read_template(args.template)
        if args.inventory:
            hosts = _inventory_hosts(args, args.limit)
            base_dir = None
        else:
            hosts = load_hosts_file(args.file)
            base_dir = args.file.resolve().parent
        _template_applies(args.template, hosts)
    except InputError as exc:
        return _report([exc])
    errors: list[InputError] = []
    entity_count = 0
    for host in sorted(hosts):
        if not args.inventory and {"hosts", "children"} & set(hosts[host]):
            errors.append(
                InputError(
                    "this is an Ansible inventory, not a file of host variables",
                    host=host,
                    value=str(args.file),
                    fix=f"sagefleet settings validate -i {args.file}",
                )
            )
            continue
        try:  # a host without entities is never deployed (SF903, deploy.yml's first play)
            require_entities(host, hosts[host])
        except InputError as exc:
            errors.append(exc)
            continue
        result = validate_host(host, hosts[host], base_dir=base_dir, template=args.template)
        errors.extend(result.errors)
        entity_count += len(result.entities)
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        if result.errors or ENTITIES_VAR not in hosts[host]:
            continue
        try:  # what a deploy would write: a missing vendor file is a problem too
            build_host_settings(host, hosts[host], base_dir=base_dir, template=args.template)
        except ValidationFailed as failed:
            errors.extend(failed.errors)
        except InputError as exc:
            errors.append(exc)
    if errors:
        _report(errors)
        print(f"{len(errors)} problem(s) found", file=sys.stderr)
        return EXIT_USAGE
    print(f"OK: {len(hosts)} host(s), {entity_count} entity(ies)")
    return EXIT_OK
