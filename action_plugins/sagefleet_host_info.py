"""Action plugin: identity and clock of a Windows host, via the host_info snippet."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sagefleet.ansible.action import SagefleetAction
from sagefleet.facts import parse_utc
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.settings.validate import refuse_misspelt


class ActionModule(SagefleetAction):
    # No arguments: library/sagefleet_host_info.py has no options.
    _supports_check_mode = True  # read-only: safe in check mode

    def prepare(self, variables: dict[str, Any]) -> Any:
        # A slip of a declared name (sagefleet_host_info_sho) would leave its default in
        # force unseen: refused before the host is contacted, as every job does.
        refuse_misspelt(self.host, self.task_vars)
        return variables

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        sent = dt.datetime.now(dt.UTC)
        info = session.run_snippet("host_info")
        answered = dt.datetime.now(dt.UTC)
        remote = parse_utc(str(info.get("utc_now") or ""))
        skew = None
        if remote is not None:
            # Against the midpoint of the round trip, as preflight's SF104; + 0.0 turns a
            # rounded -0.0 into 0.0.
            skew = round((remote - (sent + (answered - sent) / 2)).total_seconds(), 1) + 0.0
        info["clock_skew_s"] = skew
        return {"changed": False, "host_info": info}
