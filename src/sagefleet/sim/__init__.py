"""sagefleet.sim: a simulated Windows/Sage fleet speaking real WinRM."""

from __future__ import annotations
