"""Helpers shared by tests: fake pipeline, daemon boxes, review fixtures, paths."""
