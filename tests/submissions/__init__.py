"""Crafted submissions, one module per kind and notebook; see tests/graded_runs.py."""
