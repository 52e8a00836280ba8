"""Action plugin: identity and clock of a Windows host, via the host_info snippet."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

from sagefleet.facts import parse_utc
from sagefleet.remote import AuthenticationFailed, HostUnreachable, RemoteError
from sagefleet.remote.ansible import AnsibleSession

ARGUMENT_SPEC: dict[str, Any] = {}  # no arguments: library/sagefleet_host_info.py has no options


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # read-only: safe in check mode
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = str((task_vars or {}).get("inventory_hostname", "?"))
        session = AnsibleSession(host, self._connection)
        try:
            info = session.run_snippet("host_info")
        except (HostUnreachable, AuthenticationFailed) as exc:
            raise AnsibleConnectionFailure(str(exc)) from None
        except RemoteError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        remote = parse_utc(str(info.get("utc_now") or ""))
        skew = None
        if remote is not None:
            skew = round((remote - dt.datetime.now(dt.UTC)).total_seconds(), 1)
        info["clock_skew_s"] = skew
        result.update(changed=False, host_info=info)
        return result
