"""Tests of the appliance package (the box)."""
