"""Fixtures shared by the integration tests that deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagefleet.package import build_test_package


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test agent package of version 3.2.0 (a file of its own can define another)."""
    return build_test_package(
        tmp_path_factory.mktemp("pkg") / "Setup.zip",
        agent_version="3.2.0",
        installer_bytes=512 * 1024,
    )
