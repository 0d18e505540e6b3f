"""The benchmark's targets, judged on one run: PASS, FAIL, or SKIP when a figure is missing."""

from __future__ import annotations

from dataclasses import dataclass

from .model import ROSTER, Measurement, Run

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

THROUGHPUT_SHARE = {"S2": 0.50, "S3": 0.35, "S4": 0.30}  # of the minimal Quart app's S1
TAIL_RATIO = 2.0  # p99 ≤ 2 x p50 …
TAIL_SCENARIOS = ("S2", "S3")  # … for these …
TAIL_CONNECTIONS = 256  # … at this many connections
ERROR_FREE = ("S1", "S2", "S3", "S4")
S7_TAIL_RATIO = 3.0  # at 1,000 connections: p99 ≤ 3 x p50, and load shed only as 503s
S5_MEMORY_MIB = 250.0
S5_SHARE_OF_CEILING = 0.80  # "within 20 % of what the hash cost allows"
S6_SHARE_OF_SOLO = 0.50


@dataclass(frozen=True)
class Verdict:
    status: str
    target: str
    detail: str

    def line(self) -> str:
        return f"{self.status} {self.target}: {self.detail}"


def _roster(run: Run, scenario: str) -> list[Measurement]:
    return [m for m in run.measurements if m.server == ROSTER and m.scenario == scenario]


def _throughput(run: Run) -> list[Verdict]:
    verdicts = []
    for scenario, share in THROUGHPUT_SHARE.items():
        target = f"{scenario} ≥ {share:.0%} of the minimal Quart app's S1"
        measured = _roster(run, scenario)
        if not measured:
            verdicts.append(Verdict(SKIP, target, "not measured"))
            continue
        ratios = [(m.connections, run.ratio(m)) for m in measured]
        if any(ratio is None for _, ratio in ratios):
            verdicts.append(Verdict(SKIP, target, "the floor was not measured"))
            continue
        ok = all(ratio is not None and ratio >= share for _, ratio in ratios)
        detail = ", ".join(
            f"{conn} conn {ratio:.0%}" for conn, ratio in ratios if ratio is not None
        )
        verdicts.append(Verdict(PASS if ok else FAIL, target, detail))
    return verdicts


def _tails(run: Run) -> list[Verdict]:
    verdicts = []
    for scenario in TAIL_SCENARIOS:
        target = f"{scenario} p99 ≤ {TAIL_RATIO:g}x p50 at {TAIL_CONNECTIONS} connections"
        m = run.find(ROSTER, scenario, TAIL_CONNECTIONS)
        if m is None or m.wrk.p50_ms <= 0:
            verdicts.append(Verdict(SKIP, target, "not measured"))
            continue
        ratio = m.wrk.p99_ms / m.wrk.p50_ms
        detail = f"p50 {m.wrk.p50_ms:.1f} ms, p99 {m.wrk.p99_ms:.1f} ms ({ratio:.2f}x)"
        floor = run.floor(TAIL_CONNECTIONS)
        if floor is not None and floor.wrk.p50_ms > 0:
            detail += f"; the Quart floor's own: {floor.wrk.p99_ms / floor.wrk.p50_ms:.2f}x"
        verdicts.append(Verdict(PASS if ratio <= TAIL_RATIO else FAIL, target, detail))
    return verdicts


def _errors(run: Run) -> Verdict:
    target = f"zero non-2xx and socket errors in {', '.join(ERROR_FREE)}"
    measured = [m for key in ERROR_FREE for m in _roster(run, key)]
    if not measured:
        return Verdict(SKIP, target, "not measured")
    bad = [
        f"{m.scenario}@{m.connections}: {m.wrk.status_errors} non-2xx, {m.wrk.socket_errors} socket"
        for m in measured
        if m.wrk.status_errors or m.wrk.socket_errors
    ]
    return Verdict(FAIL if bad else PASS, target, "; ".join(bad) or f"{len(measured)} runs clean")


def _s5(run: Run) -> list[Verdict]:
    memory_target = f"S5 server peak memory < {S5_MEMORY_MIB:g} MiB"
    rate_target = f"S5 registrations/s ≥ {S5_SHARE_OF_CEILING:.0%} of the hash-cost ceiling"
    measured = _roster(run, "S5")
    if not measured:
        return [Verdict(SKIP, memory_target, "not measured"), Verdict(SKIP, rate_target, "-")]
    m = measured[0]
    memory = Verdict(
        PASS if m.peak_rss_mib < S5_MEMORY_MIB else FAIL,
        memory_target,
        f"{m.peak_rss_mib:.0f} MiB (largest process {m.peak_process_mib:.0f} MiB)",
    )
    cost = run.hash_cost
    if cost is None:
        return [memory, Verdict(SKIP, rate_target, "hash time not measured")]
    registered = m.wrk.success_rps  # a 4xx/5xx answer registers nobody
    share = registered / cost.registrations_ceiling
    detail = (
        f"{registered:.1f}/s of {cost.registrations_ceiling:.1f}/s = {share:.0%} "
        f"({cost.cores_for_hashing} core(s) ÷ {cost.seconds * 1000:.1f} ms per hash)"
    )
    if m.wrk.status_errors or m.wrk.socket_errors:
        detail += f"; {m.wrk.status_errors} non-2xx, {m.wrk.socket_errors} socket errors"
    ok = share >= S5_SHARE_OF_CEILING
    return [memory, Verdict(PASS if ok else FAIL, rate_target, detail)]


def _s6(run: Run) -> Verdict:
    target = f"S6 reads keep ≥ {S6_SHARE_OF_SOLO:.0%} of S2's solo throughput"
    reads = _roster(run, "S6-reads")
    if not reads:
        return Verdict(SKIP, target, "not measured")
    solo = run.find(ROSTER, "S2", reads[0].connections)
    if solo is None or solo.wrk.rps == 0:
        return Verdict(SKIP, target, f"S2 at {reads[0].connections} connections not measured")
    share = reads[0].wrk.rps / solo.wrk.rps
    detail = f"{reads[0].wrk.rps:.0f} of {solo.wrk.rps:.0f} req/s = {share:.0%}"
    return Verdict(PASS if share >= S6_SHARE_OF_SOLO else FAIL, target, detail)


def _s7(run: Run) -> Verdict:
    target = (
        f"S7 (1,000 connections): p99 ≤ {S7_TAIL_RATIO:g}x p50; nothing fails but requests "
        "shed with 503 and Retry-After"
    )
    measured = _roster(run, "S7")
    if not measured or measured[0].wrk.p50_ms <= 0:
        return Verdict(SKIP, target, "not measured")
    wrk = measured[0].wrk
    ratio = wrk.p99_ms / wrk.p50_ms
    failed = wrk.status_errors - wrk.shed + wrk.socket_errors
    detail = (
        f"p50 {wrk.p50_ms:.0f} ms, p99 {wrk.p99_ms:.0f} ms ({ratio:.2f}x), max "
        f"{wrk.latency_max_ms:.0f} ms; {wrk.shed} shed of {wrk.requests}; {failed} failed"
    )
    ok = ratio <= S7_TAIL_RATIO and failed == 0
    return Verdict(PASS if ok else FAIL, target, detail)


def judge(run: Run) -> list[Verdict]:
    return [*_throughput(run), *_tails(run), _errors(run), *_s5(run), _s6(run), _s7(run)]
