"""Results: the figures of one run, the goals they are reported against, latest.json and latest.md."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import median, percentile, ratio
from bench.measure import ArrangementResult
from bench.users import Spawn

QUICK_NOTE = "Quick smoke run: 2 single spawns, 3 and 6 at once in place of 10 and 50, one reload, no rebuild."


def spawn_stats(spawns: list[Spawn]) -> dict[str, Any]:
    ok = [s.seconds for s in spawns if s.ok]
    return {
        "p50_s": percentile(ok, 50),
        "p95_s": percentile(ok, 95),
        "max_s": max(ok) if ok else None,
        "successes": len(ok),
        "attempts": len(spawns),
        "runs_s": [round(s.seconds, 3) for s in spawns],
        "failures": sorted({s.detail for s in spawns if not s.ok}),
    }


def arrangement_figures(prefix: str, result: ArrangementResult) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for size, spawns in (("1", result.spawn1), ("10", result.spawn10), ("50", result.spawn50)):
        for key, value in spawn_stats(spawns).items():
            figures[f"{prefix}spawn{size}_{key}"] = value
    kind = "reload" if not prefix else "restart"
    if result.reloads:
        downtimes = [r.hub_downtime_s for r in result.reloads]
        figures[f"{prefix}{kind}_failed"] = sum(r.failed for r in result.reloads)
        figures[f"{prefix}{kind}_total"] = sum(r.total for r in result.reloads)
        figures[f"{prefix}{kind}_hub_downtime_s"] = median(downtimes)
        figures[f"{prefix}{kind}_hub_downtime_max_s"] = max(downtimes)
        figures[f"{prefix}{kind}_hub_downtime_runs_s"] = [round(d, 3) for d in downtimes]
        figures[f"{prefix}{kind}_apply_s"] = median([r.apply_s for r in result.reloads])
    figures[f"{prefix}stop_all_s"] = {k: round(v, 2) for k, v in result.stop_all_s.items()}
    return figures


@dataclass(frozen=True)
class Goal:
    text: str
    value: float | None
    limit: float
    unit: str

    @property
    def ratio(self) -> float | None:
        return ratio(self.value, self.limit)

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.value <= self.limit

    def as_dict(self) -> dict[str, Any]:
        value = None if self.value is None else round(self.value, 3)
        ratio_value = None if self.ratio is None else round(self.ratio, 3)
        return {"goal": self.text, "value": value, "limit": self.limit, "unit": self.unit, "ratio": ratio_value, "met": self.met}


def goals(r: dict[str, Any]) -> list[Goal]:
    spawn_vs_floor = ratio(r["spawn1_p50_s"], r["floor_server_s"])
    spawn10_vs_base = ratio(r["spawn10_p95_s"], r["baseline_spawn10_p95_s"])
    return [
        Goal("1-user spawn p50 / floor_server_s <= 1.3", spawn_vs_floor, 1.3, "x"),
        Goal("notebook server starts (floor_server_s) <= 1.5 s", r["floor_server_s"], 1.5, "s"),
        Goal("proxy image <= 200 MB", r["image_mb"]["proxy"], 200, "MB"),
        Goal("hub image <= 350 MB", r["image_mb"]["hub"], 350, "MB"),
        Goal("10 at once p95 / baseline p95 <= 0.75", spawn10_vs_base, 0.75, "x"),
        Goal("50 at once: failed spawns = 0", r["spawn50_attempts"] - r["spawn50_successes"], 0, "spawns"),
        Goal("reload: failed notebook requests = 0", r["reload_failed"], 0, "requests"),
        Goal("reload: hub API downtime (median of the reloads) <= 2.0 s", r["reload_hub_downtime_s"], 2.0, "s"),
    ]


def ratios(r: dict[str, Any]) -> dict[str, float | None]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    pairs = {
        "spawn1_p50_vs_floor_server": ("spawn1_p50_s", "floor_server_s"),
        "spawn1_p50_vs_floor_jupyter_server": ("spawn1_p50_s", "floor_jupyter_server_s"),
        "floor_server_vs_floor_container": ("floor_server_s", "floor_container_s"),
        "floor_server_vs_floor_jupyter_server": ("floor_server_s", "floor_jupyter_server_s"),
        "spawn1_p50_vs_baseline": ("spawn1_p50_s", "baseline_spawn1_p50_s"),
        "spawn10_p50_vs_baseline": ("spawn10_p50_s", "baseline_spawn10_p50_s"),
        "spawn10_p95_vs_baseline": ("spawn10_p95_s", "baseline_spawn10_p95_s"),
        "spawn50_p95_vs_baseline": ("spawn50_p95_s", "baseline_spawn50_p95_s"),
        "spawn50_max_vs_baseline": ("spawn50_max_s", "baseline_spawn50_max_s"),
        "reload_hub_downtime_vs_baseline": ("reload_hub_downtime_s", "baseline_restart_hub_downtime_s"),
        "mem_hub_50_vs_idle": ("mem_hub_50_mib", "mem_hub_idle_mib"),
        "mem_hub_idle_vs_baseline": ("mem_hub_idle_mib", "baseline_mem_hub_idle_mib"),
        "rebuild_warm_vs_cold": ("rebuild_warm_s", "rebuild_cold_s"),
    }
    result = {name: rounded(ratio(r.get(a), r.get(b))) for name, (a, b) in pairs.items()}
    result["reload_failed_share"] = rounded(ratio(r.get("reload_failed"), r.get("reload_total")))
    result["baseline_restart_failed_share"] = rounded(ratio(r.get("baseline_restart_failed"), r.get("baseline_restart_total")))
    result["image_proxy_vs_goal"] = rounded(ratio(r["image_mb"].get("proxy"), 200))
    result["image_hub_vs_goal"] = rounded(ratio(r["image_mb"].get("hub"), 350))
    return result


def floors(container_runs: list[float], server_runs: list[float], jupyter_server_runs: list[float]) -> dict[str, Any]:
    return {
        "floor_container_s": median(container_runs),
        "floor_container_runs_s": [round(s, 3) for s in container_runs],
        "floor_server_s": median(server_runs),
        "floor_server_runs_s": [round(s, 3) for s in server_runs],
        "floor_jupyter_server_s": median(jupyter_server_runs),
        "floor_jupyter_server_runs_s": [round(s, 3) for s in jupyter_server_runs],
    }


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}{unit}"
    return f"{value}{unit}"


def _row(name: str, ours: Any, baseline: Any, unit: str = "") -> str:
    return f"| {name} | {_fmt(ours, unit)} | {_fmt(baseline, unit)} | {_fmt(ratio(ours, baseline))} |"


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"# Benchmark results ({r['started_at']}, run {r['run_id']})",
        "",
        f"Machine: {m['cores']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, Docker {m['engine_version']} "
        f"({m['storage_driver']}, cgroup v{m['cgroup_version']}); run took {r['duration_s']:.0f} s. "
        f"Other containers running during the run: {', '.join(r['foreign_containers']) or 'none'}.",
        "",
        *([QUICK_NOTE, ""] if r["plan"]["quick"] else []),
        "## Goals",
        "",
        "| goal | value | limit | ratio to limit | met |",
        "|---|---|---|---|---|",
    ]
    for goal in r["goals"]:
        met = {True: "yes", False: "**no**", None: "-"}[goal["met"]]
        value = f"{_fmt(goal['value'])} {goal['unit']}"
        lines.append(f"| {goal['goal']} | {value} | {goal['limit']} | {_fmt(goal['ratio'])} | {met} |")
    lines += [
        "",
        "## Ours (separate proxy container) vs baseline (proxy inside the hub container)",
        "",
        "| figure | ours | baseline | ours / baseline |",
        "|---|---|---|---|",
    ]
    for size in ("1", "10", "50"):
        for stat in ("p50", "p95", "max"):
            ours, base = r[f"spawn{size}_{stat}_s"], r[f"baseline_spawn{size}_{stat}_s"]
            lines.append(_row(f"spawn {size} at once, {stat} (s)", ours, base))
        lines.append(_row(f"spawn {size} at once, successes", r[f"spawn{size}_successes"], r[f"baseline_spawn{size}_successes"]))
    lines += [
        _row("reload: failed notebook requests", r["reload_failed"], r["baseline_restart_failed"]),
        _row("reload: notebook requests", r["reload_total"], r["baseline_restart_total"]),
        _row("reload: hub API downtime, median (s)", r["reload_hub_downtime_s"], r["baseline_restart_hub_downtime_s"]),
        _row("reload: hub API downtime, max (s)", r["reload_hub_downtime_max_s"], r["baseline_restart_hub_downtime_max_s"]),
        _row("reload: apply, median (s)", r["reload_apply_s"], r["baseline_restart_apply_s"]),
        _row("hub memory idle (MiB)", r["mem_hub_idle_mib"], r["baseline_mem_hub_idle_mib"]),
        _row("hub memory, 50 servers (MiB)", r["mem_hub_50_mib"], r["baseline_mem_hub_50_mib"]),
        "",
        "## Floors, memory, images, rebuild",
        "",
        "| figure | value | ratio |",
        "|---|---|---|",
        f"| floor: `docker run --rm base true` (s) | {_fmt(r['floor_container_s'])} | |",
        f"| floor: the image's server (`jupyterhub-singleuser`) answers HTTP, `docker run`, not spawned (s) | "
        f"{_fmt(r['floor_server_s'])} | {_fmt(ratio(r['floor_server_s'], r['floor_container_s']))} x container floor |",
        f"| floor: bare `jupyter server` from the same image answers HTTP (s) | {_fmt(r['floor_jupyter_server_s'])} | "
        f"server floor is {_fmt(ratio(r['floor_server_s'], r['floor_jupyter_server_s']))} x this |",
        f"| 1-user spawn p50 (s) | {_fmt(r['spawn1_p50_s'])} | "
        f"{_fmt(ratio(r['spawn1_p50_s'], r['floor_server_s']))} x server floor, "
        f"{_fmt(ratio(r['spawn1_p50_s'], r['floor_jupyter_server_s']))} x bare jupyter server |",
        f"| memory: proxy idle (MiB) | {_fmt(r['mem_proxy_mib'])} | |",
        f"| memory: hub idle (MiB) | {_fmt(r['mem_hub_idle_mib'])} | |",
        f"| memory: hub, 50 servers (MiB) | {_fmt(r['mem_hub_50_mib'])} | "
        f"{_fmt(ratio(r['mem_hub_50_mib'], r['mem_hub_idle_mib']))} x idle |",
        f"| memory: idle notebook (MiB) | {_fmt(r['mem_notebook_mib'])} | |",
    ]
    for name, size in r["image_mb"].items():
        lines.append(f"| image {name} (MB) | {_fmt(size)} | |")
    lines += [
        f"| notebook rebuild, cold `--no-cache` (s) | {_fmt(r['rebuild_cold_s'])} | |",
        f"| notebook rebuild, warm, one-line change at the end (s) | {_fmt(r['rebuild_warm_s'])} | "
        f"{_fmt(ratio(r['rebuild_warm_s'], r['rebuild_cold_s']))} x cold |",
        "",
        f"Plots: `spawn_latency{r.get('plot_suffix', '')}.png`, `reload_timeline{r.get('plot_suffix', '')}.png`. "
        f"Every figure is in `{r['plan']['out']}.json`.",
        "",
    ]
    return "\n".join(lines)


def write(results: dict[str, Any], out_dir: Path, stem: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(_rounded(results), indent=2, sort_keys=True) + "\n")
    md_path.write_text(markdown(results))
    return json_path, md_path


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value
