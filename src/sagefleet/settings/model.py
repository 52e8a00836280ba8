"""The entity model: one Sage company file connected to Spendesk, as validated inventory data."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

Edition = Literal["spc", "onpremise"]

#: Ansible variable that holds a host's entities.
ENTITIES_VAR = "sagefleet_entities"
#: Entity fields whose values are never shown: in errors, logs or diffs.
SECRET_FIELDS: frozenset[str] = frozenset({"sage_password", "sql_password"})
#: Suffix of an Azure SQL server FQDN; the inventory keeps the short name.
AZURE_SQL_SUFFIX = ".database.windows.net"


@dataclass(frozen=True)
class Entity:
    """A validated entity; secrets stay out of ``repr`` so a stray log line cannot leak them."""

    name: str
    company_code: str
    analytic_plan: int
    edition: Edition
    sage_user: str
    sage_password: str = field(repr=False)
    sql_user: str
    sql_password: str = field(repr=False)
    mae_path: str
    pdf_storage: str
    azure_sql_server: str | None = None
    sql_instance: str | None = None
    database: str | None = None
    #: The entity's settings.json as the vendor's form produced it (any layout), or None.
    vendor_settings: Any = field(default=None, repr=False)
    #: Where it was read: a file, ``Setup.zip!settings.json``, or ``inline document``.
    vendor_source: str | None = None

    @property
    def server(self) -> str:
        """The SQL server this entity reads: Azure short name (SPC) or host[\\instance]."""
        return (self.azure_sql_server if self.edition == "spc" else self.sql_instance) or ""

    @property
    def pdf_in_filestream(self) -> bool:
        """True when receipts are stored as filestreams inside Sage, not in a folder."""
        return self.pdf_storage == "filestream"

    def template_context(self) -> dict[str, Any]:
        """Plain values for the Jinja2 template, which is the one place the JSON layout lives."""
        context = {item.name: getattr(self, item.name) for item in fields(self)}
        context.pop("vendor_settings")
        context.pop("vendor_source")
        context["server"] = self.server
        context["pdf_in_filestream"] = self.pdf_in_filestream
        context["azure_sql_fqdn"] = (
            f"{self.azure_sql_server}{AZURE_SQL_SUFFIX}" if self.azure_sql_server else None
        )
        return context

    def differing_fields(self, other: Entity) -> list[str]:
        """Names (never values) of the fields where two entities disagree, for error messages."""
        return [
            item.name
            for item in fields(self)
            if getattr(self, item.name) != getattr(other, item.name)
        ]
