"""The aiohttp service: REST, WebSocket, auth, docs, metrics; also the composition root (config, CLI)."""
