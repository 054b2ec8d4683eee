"""Tests of the export package (the connected workstation: torch, transformers)."""
