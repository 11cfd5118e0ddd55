"""`GET /metrics`: the Prometheus series of the live snapshot and of the billing period."""
