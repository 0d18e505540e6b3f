"""Roster: an async REST API for users and bearer-token authentication."""

# The version of the contract this release implements (docs/API.md): `roster --version`,
# /openapi.json and /docs say it; a client can tell what it may rely on.
# 1.2.0: v1.2 whole (mail, API keys and introspection, the audit log).
__version__ = "1.2.0"
