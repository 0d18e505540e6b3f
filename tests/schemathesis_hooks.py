"""Schemathesis hooks for the run against the installed server (tests/test_packaging.py): a
token for every test case, for a user or an admin, whatever the case before it did (logged
out, ended every session, changed the password, deleted the account).

Read from the environment: ROSTER_PROBE_URL, ROSTER_PROBE_ROLE (user or admin),
ROSTER_PROBE_EMAIL, ROSTER_PROBE_PASSWORD, and for an admin ROSTER_PROBE_CREATE_ADMIN (the
`roster` command that makes one again, its environment in ROSTER_PROBE_DATABASE_URL).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import Any

import httpx
import schemathesis

URL = os.environ.get("ROSTER_PROBE_URL", "")
ROLE = os.environ.get("ROSTER_PROBE_ROLE", "user")
PASSWORD = os.environ.get("ROSTER_PROBE_PASSWORD", "")
_email = os.environ.get("ROSTER_PROBE_EMAIL", "")


def _log_in(email: str) -> str | None:
    body = {"email": email, "password": PASSWORD}
    response = httpx.post(f"{URL}/api/tokens", json=body, timeout=30)
    return str(response.json()["data"]["token"]) if response.status_code == 201 else None


def _again() -> str:
    """A new account of the role (the last one is gone, or its password changed)."""
    global _email
    _email = f"probe-{uuid.uuid4().hex[:12]}@example.com"
    if ROLE == "admin":
        subprocess.run(
            [os.environ["ROSTER_PROBE_CREATE_ADMIN"], "create-user", "--name", "Probe",
             "--email", _email, "--admin", "--password-stdin"],
            input=PASSWORD, text=True, check=True, capture_output=True,
            env={**os.environ, "DATABASE_URL": os.environ["ROSTER_PROBE_DATABASE_URL"]},
        )  # fmt: skip
    else:
        body = {"name": "Probe", "email": _email, "password": PASSWORD}
        httpx.post(f"{URL}/api/users", json=body, timeout=30).raise_for_status()
    token = _log_in(_email)
    assert token is not None
    return token


@schemathesis.auth(refresh_interval=None)  # a fresh token for every case
class RosterToken:
    def get(self, case: Any, context: Any) -> str:
        return _log_in(_email) or _again()

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
