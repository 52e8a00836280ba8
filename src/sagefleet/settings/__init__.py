"""Entities and the agent's settings.json: validate, render, merge, redact and diff.

The vendor says settings.json must not be edited by hand and that several
entities are connected by merging their JSON documents for real. This package
does that on the bastion, before any host is touched.
"""

from __future__ import annotations

from sagefleet.settings.document import (
    DEFAULT_SOURCE,
    SOURCE_VAR,
    SOURCES,
    HostSettings,
    SettingsOptions,
    host_document,
    settings_options,
)
from sagefleet.settings.errors import (
    MergeConflict,
    MergeFailed,
    OverwriteRefused,
    ValidationFailed,
)
from sagefleet.settings.jsonio import (
    dumps,
    load_json_file,
    loads_strict,
    settings_sha256,
    write_atomic,
)
from sagefleet.settings.keys import KEY_CANDIDATES
from sagefleet.settings.merge import merge_documents, merge_settings
from sagefleet.settings.model import ENTITIES_VAR, SECRET_FIELDS, Entity
from sagefleet.settings.redact import (
    DEFAULT_SECRET_KEYS,
    MASK,
    diff,
    is_secret_key,
    is_secret_path,
    redact,
)
from sagefleet.settings.render import load_template, render_entity, render_host_settings
from sagefleet.settings.validate import (
    HostEntities,
    HostValidation,
    build_host_settings,
    check_fleet,
    entities_for_host,
    validate_fleet,
    validate_host,
)

__all__ = [
    "DEFAULT_SECRET_KEYS",
    "DEFAULT_SOURCE",
    "ENTITIES_VAR",
    "KEY_CANDIDATES",
    "MASK",
    "SECRET_FIELDS",
    "SOURCES",
    "SOURCE_VAR",
    "Entity",
    "HostEntities",
    "HostSettings",
    "HostValidation",
    "MergeConflict",
    "MergeFailed",
    "OverwriteRefused",
    "SettingsOptions",
    "ValidationFailed",
    "build_host_settings",
    "check_fleet",
    "diff",
    "dumps",
    "entities_for_host",
    "is_secret_key",
    "is_secret_path",
    "load_json_file",
    "load_template",
    "host_document",
    "loads_strict",
    "merge_documents",
    "merge_settings",
    "redact",
    "render_entity",
    "render_host_settings",
    "settings_options",
    "settings_sha256",
    "validate_fleet",
    "validate_host",
    "write_atomic",
]
