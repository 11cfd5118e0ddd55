"""What clients send, read strictly: JSON text, request bodies and forms, query strings."""
