"""``python -m sagefleet.pslint``: lint what sagefleet ships, or the files given."""

from sagefleet.pslint.shipped import main

raise SystemExit(main())
