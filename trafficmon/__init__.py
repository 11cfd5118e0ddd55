"""trafficmon: per-connection network monitor and monthly traffic-cap keeper.

The one import root of the distribution. Its three parts live in the
repository's top-level folders, mapped here by pyproject.toml's package-dir:
`trafficmon.capture` (capture/: packets -> flows -> connections and
processes), `trafficmon.state` (state/: the period's accounting and its
store) and `trafficmon.web` (web/: the service and the composition root).
Imports go one way: capture <- state <- web. Beneath all three,
`trafficmon.settings` holds the settings table's `Setting` type, its one
coercer and `ValidationError`, which each part's configuration uses.
"""
