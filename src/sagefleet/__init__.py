"""sagefleet: fleet automation for the Spendesk agent on Sage 100 servers."""
from __future__ import annotations

__version__ = "0.1.0"
