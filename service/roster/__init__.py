"""Roster: an async REST API for users and bearer-token authentication."""

__version__ = "1.0.0"
