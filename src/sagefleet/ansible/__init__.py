"""What sagefleet adds to Ansible: the base of its action plugins (docs/architecture.md)."""

from __future__ import annotations

from typing import Any

#: Meta tasks that end a host or a role. Ansible runs each once per host in its own
#: process (no worker), starting it, for its callbacks, once per host.
ENDING_METAS = ("end_host", "end_role")


def action_name(action: Any) -> str:
    """A task's action without its collection (``ansible.builtin.meta``: ``meta``)."""
    return str(action).rsplit(".", 1)[-1]


def ending_meta(task: Any) -> bool:
    """Whether an Ansible task is a meta task that ends a host or a role."""
    return action_name(task.action) == "meta" and (task.args.get("_raw_params") in ENDING_METAS)


#: Secret words of an extra variable's name, besides settings.json's: Ansible's ``*_pass``
#: (ansible_winrm_pass, ansible_ssh_pass, ansible_become_pass).
_EXTRA_SECRET_WORDS = ("pass",)


def masked_extra_vars(given: Any) -> tuple[str, ...]:
    """ansible-playbook's ``-e`` values as its default callback echoes them at -vvvv, with
    every secret masked: in ``key=value`` pairs and inline YAML/JSON, a value whose name
    (or a name on its path) is a secret's; a ``@file`` is echoed as given (its name only).
    One that cannot be read is not echoed."""
    from sagefleet.settings.redact import DEFAULT_SECRET_KEYS, redact

    keys = (*DEFAULT_SECRET_KEYS, *_EXTRA_SECRET_WORDS)
    shown: list[str] = []
    for item in given or ():
        text = str(item)
        try:
            if text.startswith("@"):
                shown.append(text)
            elif text.lstrip()[:1] in ("{", "["):
                import json

                import yaml

                shown.append(json.dumps(redact(yaml.safe_load(text), keys)))
            else:
                from ansible.parsing.splitter import parse_kv

                pairs = redact(parse_kv(text), keys)
                shown.append(" ".join(f"{key}={value}" for key, value in pairs.items()))
        except Exception:  # noqa: BLE001 - whatever it is, it is not echoed
            shown.append("(not shown: sagefleet could not read it to mask its secrets)")
    return tuple(shown)
