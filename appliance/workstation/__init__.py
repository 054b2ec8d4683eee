"""The records workstation's side: reading encrypted results of any format, and the research table.

Runs where the age identity is (never on the box): ``appliance decrypt`` and ``appliance table``.
"""
