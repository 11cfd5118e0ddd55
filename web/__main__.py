"""`python -m web` runs the service, like the `trafficmon` command."""

from web.cli import main

raise SystemExit(main())
