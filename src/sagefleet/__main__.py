"""``python -m sagefleet`` runs the CLI."""

from __future__ import annotations

import sys

from sagefleet.cli import main

sys.exit(main())
