"""Operators' commands for a deployment's data (run with `venv/bin/python -m admin.<command>`)."""
