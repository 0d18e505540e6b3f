"""roster-client's signatures, as a team's type checker sees them: a misspelt or mistyped field
of `users.update` fails `mypy --strict`, the right ones pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

CALLS = {
    "right": 'await roster.users.update(1, name="Ada", role="admin", status="active")',
    "misspelt": 'await roster.users.update(1, nmae="typo")',
    "mistyped": "await roster.users.update(1, role=123)",
    "unknown role": 'await roster.users.update(1, role="owner")',
}


CLIENT = Path(__file__).resolve().parent.parent / "client"


def checked(call: str, directory: Path) -> tuple[str, int]:
    script = directory / "uses_roster.py"
    script.write_text(
        "from roster_client import RosterClient\n\n\n"
        "async def main(roster: RosterClient) -> None:\n"
        f"    {call}\n"
    )
    config = directory / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {CLIENT}\n")  # the client as a team installs it
    stdout, _stderr, status = api.run(
        [
            "--config-file",
            str(config),
            "--strict",
            "--cache-dir",
            str(directory / ".mypy"),
            str(script),
        ]
    )
    return stdout, status


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_update_keywords_are_typed(kind: str, tmp_path: Path) -> None:
    report, status = checked(CALLS[kind], tmp_path)
    if kind == "right":
        assert status == 0, report
    else:
        assert status == 1, report
        assert "uses_roster.py:5: error" in report
