"""`trafficmon top`: live per-process and per-connection speeds in a terminal.

- `command`: the subcommand's options, and which feed they ask for
- `feeds`: a running service's WebSocket, or top's own capture (root, no service)
- `view`: what a frame shows (rows, orders, the filter, the summary and cap gauge), pure
- `app`: the Textual screen and its keys
"""
