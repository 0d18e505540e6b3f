"""Roster: an async REST API for users and bearer-token authentication."""

# The version of the contract this release implements (docs/API.md): `roster --version`,
# /openapi.json and /docs say it; a client can tell what it may rely on.
# 1.2.0a1: v1.1 and v1.2's mail (§6 whole, with `email_verified`); 1.2.0 once its API keys,
# introspection and audit log have landed too.
__version__ = "1.2.0a1"
