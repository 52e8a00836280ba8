"""ansible-playbook's extra vars (``-e``), for a command that reads an inventory as a run will.

A run's extra vars win over every host's variables, so a command that checks an inventory
before the run takes them too, in the same forms, read by ansible-core's own parser
(``ansible.utils.vars.load_extra_vars``, which Ansible's VariableManager calls).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

#: The option, as ansible-playbook spells it.
EXTRA_VARS_OPTION = "-e/--extra-vars"
EXTRA_VARS_FIX = (
    "give KEY=VALUE pairs, a YAML or JSON mapping, or @FILE (a YAML or JSON file, "
    "vault-encrypted or not), as ansible-playbook takes them"
)
#: What an error says instead of an inline value, which may hold a secret.
HIDDEN = "(the value, not shown)"


def given_value(text: str) -> str:
    """One ``-e`` value as ansible-playbook's option takes it: ``@FILE`` with the file's
    path made absolute, any other text trusted as a template (ansible-core 2.19 renders
    no template in an untrusted value; 2.18 trusts every value)."""
    from ansible.utils.path import unfrackpath

    if text.startswith("@"):
        return f"@{unfrackpath(text[1:])}"
    try:
        from ansible.template import trust_as_template
    except ImportError:
        return text
    trusted: str = trust_as_template(text)  # a str still (str() would drop the trust)
    return trusted


def add_extra_vars_argument(parser: argparse.ArgumentParser) -> None:
    """``-e/--extra-vars``, repeatable, as ansible-playbook's (``args.extra_vars``)."""
    parser.add_argument(
        "-e",
        "--extra-vars",
        dest="extra_vars",
        action="append",
        default=[],
        type=given_value,
        metavar="KEY=VALUE|@FILE|JSON",
        help="variables the run gets with -e, which win over every host's variables, as "
        "ansible-playbook takes them: KEY=VALUE pairs, a YAML or JSON mapping, or @FILE "
        "(repeatable; a later one wins)",
    )


@contextmanager
def given(values: Sequence[str]) -> Iterator[None]:
    """``values`` as the command line ansible-core's parser reads its extra vars from,
    while in the block (a VariableManager made there takes them); Ansible's command-line
    context and the parser's cache are as they were after."""
    from ansible import context
    from ansible.utils import vars as ansible_vars
    from ansible.utils.context_objects import CLIArgs

    parser: Any = ansible_vars.load_extra_vars
    before, cached = context.CLIARGS, getattr(parser, "extra_vars", None)
    context.CLIARGS = CLIArgs({**before, "extra_vars": tuple(values)})
    parser.extra_vars = None  # parsed once a process: parse these
    try:
        yield
    finally:
        context.CLIARGS = before
        parser.extra_vars = cached
