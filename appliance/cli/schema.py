"""CLI commands (being written)."""

commands: list = []
