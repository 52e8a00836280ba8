"""SF507's comparison: a vendor file keeps what only the host's file had, a template does not."""

from __future__ import annotations

from typing import Any

from sagefleet.sim import vendor_layout
from sagefleet.verify.expectations import differences, for_host


def variables(source: str) -> dict[str, Any]:
    entity = dict(vendor_layout.SAMPLE_ENTITY)
    if source == "vendor":
        entity["vendor_settings"] = vendor_layout.document([entity])
    return {"sagefleet_entities": [entity], "sagefleet_settings_source": source}


def test_members_only_the_file_has_are_allowed_under_the_vendor_source() -> None:
    expected = for_host("sage01", variables("vendor"))
    installed = vendor_layout.installed_document([vendor_layout.SAMPLE_ENTITY])
    assert expected.settings_extra_allowed
    assert differences(installed, expected.settings, extra_allowed=True) == []
    assert differences(installed, expected.settings) == [
        "$.Connections[0].MaeFile: unexpected field",
        "$.Connections[0].SageUser: unexpected field",
        "$.ServiceAccount: unexpected field",
    ]
    changed = {**installed, "Version": "9.9"}
    assert differences(changed, expected.settings, extra_allowed=True) == [
        "$.Version: '9.9', expected '1.0'"
    ]


def test_the_template_layout_allows_nothing_more_than_it_renders() -> None:
    assert not for_host("sage01", variables("template")).settings_extra_allowed
