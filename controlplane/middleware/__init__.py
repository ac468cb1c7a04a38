"""Server interceptors (the middleware chain of the public API)."""
