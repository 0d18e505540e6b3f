"""The time of one argon2 hash with the service's configured parameters, and its hash workers.

Run as `python -m bench.hashcost` with the server's environment, on the server's core (the
runner does this while the server is idle); prints one JSON object. The registrations a
server can make per second are at most (cores given to hashing) / (time of one hash).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any

from argon2 import PasswordHasher, Type

from roster.domain.passwords import Passwords
from roster.settings import PasswordHashing, Settings

SAMPLES = 9


def hash_workers(config: PasswordHashing) -> int:
    """The hashing threads the service starts: asked of roster.domain.passwords.Passwords itself,
    else its documented rule (0 means one per core this process may run on)."""
    try:
        passwords = Passwords(config)
    except Exception:  # the service changed its constructor: fall back on the rule
        return config.workers or len(os.sched_getaffinity(0)) or 1
    try:
        workers = getattr(passwords, "workers", None)
    finally:
        passwords.close()
    fallback = config.workers or len(os.sched_getaffinity(0)) or 1
    return workers if isinstance(workers, int) else fallback


def measure(samples: int = SAMPLES) -> dict[str, Any]:
    config = Settings.from_env().password_hashing
    hasher = PasswordHasher(
        time_cost=config.time_cost,
        memory_cost=config.memory_kib,
        parallelism=config.parallelism,
        type=Type.ID,
    )
    hasher.hash("warm-up-password")
    times = []
    for number in range(samples):
        started = time.perf_counter()
        hasher.hash(f"bench-password-{number}")
        times.append(time.perf_counter() - started)
    return {
        "memory_kib": config.memory_kib,
        "time_cost": config.time_cost,
        "parallelism": config.parallelism,
        "workers_setting": config.workers,
        "workers": hash_workers(config),
        "samples": samples,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
    }


def main() -> int:
    json.dump(measure(), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
