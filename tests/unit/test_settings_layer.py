"""Specification of a write over the host's current settings.json: nothing is lost.

The new document (the entities' vendor files, merged) wins for every member it
carries; a member only the current file has (what the vendor's installer added
from its wizard) is kept; a connection the new document drops is refused unless
told. One function decides it for every path that writes the file
(``HostSettings.over``, on ``settings.layer.layer``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sagefleet.agent.profile import MergeKey
from sagefleet.settings import (
    OverwriteRefused,
    ValidationFailed,
    build_host_settings,
    diff,
    dumps,
    merge_documents,
)
from sagefleet.settings.layer import layer
from sagefleet.sim import vendor_layout

HOST = "sage-multi"
VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor_settings"


def vendor(name: str) -> Any:
    return json.loads((VENDOR / name).read_text(encoding="utf-8-sig"))


def installed(document: Any, **top: Any) -> Any:
    """``document`` as an installer could leave it: each connection of ``Connections``
    gets the wizard's answers, the top level the service account (and ``top``)."""
    result = json.loads(json.dumps(document))
    for item in result["Connections"]:
        item["MaeFile"] = f"C:\\Sage\\{item['CompanyName']}.MAE"
        item["SageUser"] = "<administrateur>"
        item["Database"]["Port"] = 1433
    result["ServiceAccount"] = "CORP\\svc-spendesk"
    result.update(top)
    return result


def entity(name: str, **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "company_code": name,
        "analytic_plan": 1,
        "edition": "spc",
        "azure_sql_server": "xiyxu8z271",
        "database": f"db_{name}",
        "sage_user": "<administrateur>",
        "sage_password": "",
        "sql_user": "spendesk",
        "sql_password": "Sql-S3cret-Value-QRS",
        "mae_path": f"C:\\Sage\\{name}.MAE",
        "pdf_storage": "filestream",
        **changes,
    }


def host_settings(*names: str, **variables: Any) -> Any:
    files = {"BIJOU": "bijou.settings.json", "CHOCO": "choco.settings.json"}
    entities = [entity(n, vendor_settings=str(VENDOR / files[n])) for n in names]
    return build_host_settings(HOST, {"sagefleet_entities": entities, **variables})


# -- the layered merge itself ---------------------------------------------------------------


def test_a_member_only_the_current_file_has_is_kept_at_the_top_and_in_a_connection() -> None:
    new = merge_documents([vendor("bijou.settings.json")])
    current = installed(new.document)
    laid = layer(current, new)
    bijou = laid.document["Connections"][0]
    assert bijou["MaeFile"] == "C:\\Sage\\BIJOU.MAE" and bijou["SageUser"] == "<administrateur>"
    assert bijou["Database"] == {**new.document["Connections"][0]["Database"], "Port": 1433}
    assert laid.document["ServiceAccount"] == "CORP\\svc-spendesk"
    assert laid.kept == (
        "Connections[CompanyName=BIJOU].Database.Port",
        "Connections[CompanyName=BIJOU].MaeFile",
        "Connections[CompanyName=BIJOU].SageUser",
        "ServiceAccount",
    )
    assert laid.dropped == ()


def test_the_new_content_wins_every_member_it_carries_and_the_diff_shows_it_changed() -> None:
    current = installed(vendor("bijou.settings.json"))
    new = merge_documents([vendor("bijou-regenerated.settings.json")])
    laid = layer(current, new)
    sql = laid.document["Connections"][0]["Sql"]
    assert sql == {"Login": "spendesk_bijou_v2", "Pwd": "Vendor-Sql-Secret-Bijou-v2"}
    assert laid.document["Connections"][0]["MaeFile"] == "C:\\Sage\\BIJOU.MAE"
    shown = diff(dumps(current), dumps(laid.document))
    assert '+        "Pwd": "******** (changed)"' in shown
    assert '+        "Login": "spendesk_bijou_v2"' in shown
    assert "Vendor-Sql-Secret" not in shown
    changed = [line for line in shown.splitlines() if line[:1] in "+-"]
    assert not [line for line in changed if "MaeFile" in line]  # kept: no change to show


def test_kept_members_come_after_the_new_documents_and_laying_again_changes_nothing() -> None:
    new = merge_documents([vendor("bijou.settings.json"), vendor("choco.settings.json")])
    laid = layer(installed(new.document), new)
    assert list(laid.document)[-1] == "ServiceAccount"
    assert list(laid.document["Connections"][0])[-2:] == ["MaeFile", "SageUser"]
    again = layer(laid.document, new)
    assert dumps(again.document) == dumps(laid.document) and again.kept == laid.kept


def test_a_connection_only_the_new_content_has_is_added_and_one_it_lacks_is_reported() -> None:
    both = merge_documents([vendor("bijou.settings.json"), vendor("choco.settings.json")])
    current = installed(both.document)
    only_choco = merge_documents([vendor("choco.settings.json")])
    laid = layer(current, only_choco)
    assert laid.dropped == ("Connections[CompanyName=BIJOU]",)
    assert [c["CompanyName"] for c in laid.document["Connections"]] == ["CHOCO"]
    # Its members go with it: nothing of BIJOU is reported as kept.
    assert all("BIJOU" not in name for name in laid.kept)
    grown = layer(installed(only_choco.document), both)
    assert [c["CompanyName"] for c in grown.document["Connections"]] == ["BIJOU", "CHOCO"]
    assert "MaeFile" not in grown.document["Connections"][0]  # nobody wrote it for BIJOU
    assert grown.document["Connections"][1]["MaeFile"] == "C:\\Sage\\CHOCO.MAE"


def test_nested_keyed_lists_pair_by_their_key_at_every_depth() -> None:
    new = merge_documents([vendor("nested-a.settings.json")])
    current = json.loads(json.dumps(new.document))
    site = current["Agent"]["Sites"]["Items"][0]
    site["Tables"][0]["Rows"] = 12  # inside an item of a keyed list inside an item
    site["Installed"] = {"Path": "C:\\Sage\\BIJOU.MAE"}
    laid = layer(current, new)
    assert laid.document == current
    assert laid.kept == (
        "Agent.Sites.Items[Code=BIJOU].Installed",
        "Agent.Sites.Items[Code=BIJOU].Tables[Name=F_COMPTEG].Rows",
    )


def test_a_list_that_is_not_keyed_is_a_value_the_new_content_replaces_whole() -> None:
    new = merge_documents([{"Endpoints": ["s3", "sqs"], "Retries": [1, 2], "Name": "x"}])
    current = {"Endpoints": ["s3", "legacy"], "Retries": {"Count": 3}, "Name": "x", "Extra": [1]}
    laid = layer(current, new)
    assert laid.document == {
        "Endpoints": ["s3", "sqs"],  # not ["s3", "sqs", "legacy"]: items are not paired
        "Retries": [1, 2],  # another type: the new value
        "Name": "x",
        "Extra": [1],  # only the current file has it: kept whole
    }
    assert laid.kept == ("Extra",) and laid.dropped == ()


def test_a_member_only_the_current_file_has_keeps_the_connections_inside_it() -> None:
    new = merge_documents([vendor("bijou.settings.json")])
    current = {**new.document, "Archive": [{"CompanyName": "OLDCO", "Pwd": "Vendor-x"}]}
    laid = layer(current, new)
    assert laid.document["Archive"] == current["Archive"]
    assert laid.kept == ("Archive",) and laid.dropped == ()


def test_a_top_level_list_of_connections_is_laid_item_by_item() -> None:
    new = merge_documents([vendor("list-atelier.settings.json")])
    current = [{**item, "InstalledBy": "wizard"} for item in new.document]
    laid = layer(current, new)
    assert laid.document == current
    assert laid.kept == tuple(
        f"[ConnectionName={item['ConnectionName']}].InstalledBy" for item in new.document
    )


def test_the_current_files_keys_are_read_with_the_declared_ones() -> None:
    keys = [MergeKey("Connections", "ConnectionId")]
    new = merge_documents([vendor("ambiguous-a.settings.json")], keys=keys)
    current = json.loads(json.dumps(new.document))
    current["Connections"][0]["MaeFile"] = "C:\\Sage\\A.MAE"
    laid = layer(current, new, keys=keys)
    assert laid.kept == (
        f"Connections[ConnectionId={current['Connections'][0]['ConnectionId']}].MaeFile",
    )
    with pytest.raises(ValidationFailed, match="sagefleet does not guess"):
        layer(current, merge_documents([{"Other": 1}]))


def test_kept_member_names_never_carry_a_secret_key_value() -> None:
    keys = [MergeKey(".", "ApiKey")]
    new = merge_documents([[{"ApiKey": "vendor-key-1", "Region": "eu"}]], keys=keys)
    current = [{"ApiKey": "vendor-key-1", "Region": "eu", "MaeFile": "x"}]
    laid = layer(current, new, keys=keys)
    assert laid.kept == ("[ApiKey=********].MaeFile",)


# -- HostSettings.over: the one function every write goes through ----------------------------


def test_over_keeps_what_the_installer_added_to_the_hosts_file() -> None:
    settings = host_settings("BIJOU", "CHOCO")
    current = installed(settings.document)
    laid = settings.over(dumps(current))
    assert laid.document == current and laid.text != settings.text
    assert "Connections[CompanyName=CHOCO].MaeFile" in laid.kept and "ServiceAccount" in laid.kept
    assert settings.over(laid.text).text == laid.text  # a second write changes nothing
    assert settings.over(None) is settings


def test_over_refuses_to_drop_a_connection_unless_told_then_drops_it_with_its_members() -> None:
    current = dumps(installed(host_settings("BIJOU", "CHOCO").document))
    with pytest.raises(OverwriteRefused, match=r"Connections\[CompanyName=CHOCO\]"):
        host_settings("BIJOU").over(current)
    laid = host_settings("BIJOU", sagefleet_settings_drop_connections=True).over(current)
    assert [c["CompanyName"] for c in laid.document["Connections"]] == ["BIJOU"]
    assert laid.document["Connections"][0]["MaeFile"] == "C:\\Sage\\BIJOU.MAE"
    assert all("CHOCO" not in name for name in laid.kept)


def test_over_a_file_that_is_not_json_replaces_it_only_when_told() -> None:
    with pytest.raises(OverwriteRefused, match="not valid JSON"):
        host_settings("BIJOU").over("{broken")
    told = host_settings("BIJOU", sagefleet_settings_drop_connections=True)
    assert told.over("{broken") is told


def test_a_template_layout_file_is_replaced_whole_never_laid_under_vendor_content() -> None:
    template = build_host_settings(
        HOST, {"sagefleet_entities": [entity("BIJOU")], "sagefleet_settings_source": "template"}
    )
    told = host_settings("BIJOU", sagefleet_settings_drop_connections=True)
    laid = told.over(template.text)
    assert laid is told and "schemaVersion" not in laid.document
    with pytest.raises(OverwriteRefused, match=r"connections\[name=BIJOU\]"):
        host_settings("BIJOU").over(template.text)


def test_template_content_is_never_laid_over_anything() -> None:
    variables = {"sagefleet_entities": [entity("BIJOU")], "sagefleet_settings_source": "template"}
    template = build_host_settings(HOST, variables)
    current = json.loads(template.text)
    current["connections"][0]["pdfStorage"]["folder"] = "D:\\Receipts"  # stale: now filestream
    assert template.over(dumps(current)) is template
    with pytest.raises(OverwriteRefused, match="not in sagefleet's template layout"):
        template.over(dumps(installed(host_settings("BIJOU").document)))


def test_the_simulators_installed_file_is_the_form_file_plus_the_installers_answers() -> None:
    entities = [entity("BIJOU"), entity("CHOCO")]
    form = vendor_layout.document(entities)
    on_host = vendor_layout.installed_document(entities, service_account="CORP\\svc")
    new = merge_documents([vendor_layout.document([e]) for e in entities])
    laid = layer(on_host, new)
    assert laid.document == on_host and form != on_host
    assert laid.kept == (
        "Connections[CompanyName=BIJOU].MaeFile",
        "Connections[CompanyName=BIJOU].SageUser",
        "Connections[CompanyName=CHOCO].MaeFile",
        "Connections[CompanyName=CHOCO].SageUser",
        vendor_layout.SERVICE_ACCOUNT_MEMBER,
    )


@pytest.mark.parametrize(
    "odd",
    [
        {"Label": "OLDCO", "MaeFile": "C:\\Sage\\OLDCO.MAE"},  # no CompanyName
        {"CompanyName": "BIJOU", "MaeFile": "C:\\Sage\\BIJOU2.MAE"},  # BIJOU twice
    ],
)
def test_a_current_list_whose_connections_cannot_be_told_is_refused_not_replaced(
    odd: dict[str, Any],
) -> None:
    """Replacing it whole would lose its connections and the installer's values unseen."""
    new = merge_documents([vendor("bijou.settings.json")], ["entity BIJOU"])
    current = installed(vendor("bijou.settings.json"))
    current["Connections"].append(odd)
    with pytest.raises(ValidationFailed, match="Connections cannot be keyed by CompanyName"):
        layer(current, new, host=HOST)
    settings = host_settings("BIJOU")
    with pytest.raises(OverwriteRefused, match="cannot be told.*settings_drop_connections"):
        settings.over(dumps(current))
    # Told to: the file is replaced.
    dropping = host_settings("BIJOU", sagefleet_settings_drop_connections=True)
    assert dropping.over(dumps(current)).document == dropping.document
