"""The live feed: the WebSocket endpoint, its hub and per-client outboxes, the table topic, and answers built once per tick."""
