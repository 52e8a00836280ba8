"""The documentation that is generated from code stays in sync with it."""

from __future__ import annotations

import re

from tests.support.fleets import ROOT

from sagefleet.checks import all_checks, markdown_table


def test_readme_lists_every_check_id_as_the_catalog_does() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- checks:begin[^>]*-->\n(.*?)\n<!-- checks:end -->", text, re.S)
    assert match, "README.md lost its generated checks section"
    assert match.group(1) == markdown_table("en"), "run `sagefleet checks list` into README.md"


def test_every_check_has_a_french_title() -> None:
    assert all(c.title_fr.strip() for c in all_checks())
