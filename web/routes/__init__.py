"""Request handlers, one module per group of routes: the live API, the accounting API, adjustments, pages."""
