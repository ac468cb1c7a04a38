"""Plugins shipped with the agent host, and the plugin loader."""
