"""Agent runtime."""
