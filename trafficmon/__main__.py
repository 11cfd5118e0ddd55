"""`python -m trafficmon` runs the service, like the `trafficmon` command."""

from trafficmon.web.cli import main

raise SystemExit(main())
