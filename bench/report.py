"""Write a run to bench/results/<timestamp>.json and .md (and latest.*), as a markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .model import ROSTER, Measurement, Run
from .targets import Verdict

RESULTS = Path(__file__).resolve().parent / "results"

HEADER = (
    "| scenario | conn | req/s | x Quart floor | p50 ms | p99 ms | p99/p50 "
    "| non-2xx | socket errors | peak MiB | CPU % srv/core | instructions/request |"
)
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"


def _row(run: Run, m: Measurement) -> str:
    ratio = run.ratio(m)
    tail = m.wrk.p99_ms / m.wrk.p50_ms if m.wrk.p50_ms > 0 else 0.0
    w = m.wrk
    sockets = str(w.socket_errors)
    if w.socket_errors:
        sockets += f" (c{w.connect_errors}/r{w.read_errors}/w{w.write_errors}/t{w.timeout_errors})"
    cells = [
        m.label,
        str(m.connections),
        f"{w.rps:,.0f}" if w.rps >= 100 else f"{w.rps:.1f}",
        "-" if ratio is None else f"{ratio:.2f}",
        f"{w.p50_ms:.2f}",
        f"{w.p99_ms:.2f}",
        f"{tail:.2f}",
        str(w.status_errors),
        sockets,
        f"{m.peak_rss_mib:.0f}",
        f"{m.server_cpu_percent:.0f}/"
        + ("-" if m.core_busy_percent is None else f"{m.core_busy_percent:.0f}"),
        _instructions(run, m),
    ]
    return "| " + " | ".join(cells) + " |"


def _instructions(run: Run, m: Measurement) -> str:
    """The scenario's count under callgrind (bench.counts, in process), beside its req/s."""
    counted: dict[str, int] = run.meta.get("instructions", {})
    figure = counted.get(m.scenario) if m.server == ROSTER else None
    return "-" if figure is None else f"{figure:,}"


def table(run: Run) -> str:
    return "\n".join([HEADER, RULE, *(_row(run, m) for m in run.measurements)])


def markdown(run: Run, verdicts: list[Verdict]) -> str:
    meta = run.meta
    lines = [
        f"# Roster benchmark, {run.started}",
        "",
        *(["**Incomplete run: the harness stopped early.**", ""] if meta.get("incomplete") else []),
        f"- commit `{meta.get('commit', '?')}`; {meta.get('placement', '')}",
        f"- hypercorn {meta.get('hypercorn', '?')}, one worker, worker class "
        f"`{meta.get('worker_class', '?')}`; {meta.get('wrk', 'wrk')}, "
        f"{meta.get('wrk_threads', '?')} thread(s), timeout {meta.get('wrk_timeout', '?')}",
        f"- per run: {meta.get('warmup_s')} s warm-up, {meta.get('duration_s')} s measured "
        f"(S5: {meta.get('s5_duration_s')} s); {meta.get('seeded_users', 0)} users seeded "
        f"in {meta.get('seed_seconds', 0):.1f} s",
        f"- service settings from the environment: {_settings(meta.get('settings', {}))}",
    ]
    if meta.get("instructions"):
        counted = ", ".join(f"{k} {v:,}" for k, v in meta["instructions"].items())
        lines.append(f"- instructions per request (bench.counts, callgrind, in process): {counted}")
    if run.hash_cost is not None:
        cost = run.hash_cost
        lines.append(
            f"- one argon2id hash ({cost.details.get('memory_kib')} KiB, "
            f"t={cost.details.get('time_cost')}, p={cost.details.get('parallelism')}): "
            f"{cost.seconds * 1000:.1f} ms; {cost.workers} hash worker(s) on "
            f"{cost.server_cores} server core(s) → ceiling "
            f"{cost.registrations_ceiling:.1f} registrations/s"
        )
    lines += [
        "",
        "x Quart floor: req/s ÷ the minimal Quart app's GET /health at the same connections.",
        "non-2xx: responses with status ≥ 400 (wrk's count). peak MiB: sum of VmRSS over the "
        "server's process tree. CPU % srv/core: the server's CPU time, and how busy its core "
        "was with every process on it; a core much busier than the server means others' load "
        "shared it and the figures are noisy.",
        "",
        table(run),
        "",
        "## Targets",
        "",
        *(f"- {verdict.line()}" for verdict in verdicts),
        "",
    ]
    return "\n".join(lines)


def _settings(settings: dict[str, Any]) -> str:
    shown = [f"{name}={value}" for name, value in settings.items() if value is not None]
    return ", ".join(shown) or "all defaults"


def to_json(run: Run, verdicts: list[Verdict]) -> dict[str, Any]:
    return {
        "started": run.started,
        "meta": run.meta,
        "hash_cost": None if run.hash_cost is None else run.hash_cost.to_json(),
        "measurements": [
            {**m.to_json(), "ratio_to_quart_floor": run.ratio(m)} for m in run.measurements
        ],
        "targets": [{"status": v.status, "target": v.target, "detail": v.detail} for v in verdicts],
    }


def write(run: Run, verdicts: list[Verdict], directory: Path = RESULTS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = run.started.replace(":", "").replace("-", "")
    text = markdown(run, verdicts)
    data = json.dumps(to_json(run, verdicts), indent=2) + "\n"
    paths = []
    for name, content in (
        (f"{stamp}.json", data),
        (f"{stamp}.md", text),
        ("latest.json", data),
        ("latest.md", text),
    ):
        path = directory / name
        path.write_text(content)
        paths.append(path)
    return paths
