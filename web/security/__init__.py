"""Who may use the service and how: authentication, credentials, the login throttle, origins, response headers."""
