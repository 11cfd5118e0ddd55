"""The aiohttp service and the composition root.

- `cli`, `config`, `config_load`, `values`, `checks`, `privileges`, `app`: the `trafficmon` command, its
  settings, where they are read from (command line, environment, TOML file), the service's value rules,
  `trafficmon check`, dropping root once capture is open (RUN_AS), the application factory
- `top/`: `trafficmon top`, the terminal view (a service's WebSocket, or its own capture)
- `live/`: the WebSocket endpoint, its hub and per-client outboxes, the table topic, per-tick builds
- `routes/`: request handlers (the live API, the accounting API, adjustments, pages, bundles)
- `views/`: JSON bodies built from a capture snapshot (`live_json`) and from the accountant (`period_json`)
- `parsing/`: client input read strictly (JSON text, bodies and forms, query strings)
- `metrics/`: `GET /metrics`, live and billing-period series
- `security/`: authentication, credentials, the login throttle, origins, response headers
- `keys`, `errors`, `openapi`, `logs`: the app's typed keys, JSON errors, the OpenAPI document, the logs

Only the faces of `capture` and `state` (their packages, and `capture.model`)
are imported here; pyproject.toml's import contracts hold that.
"""
