"""PNG plots: spawn-latency distributions and the reload timelines, ours vs the baseline."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.measure import ArrangementResult, ReloadResult

COLORS = {"ours": "tab:blue", "baseline": "tab:orange"}


def spawn_latency(results: dict[str, ArrangementResult], path: Path) -> None:
    """One panel per concurrency (1, 10, 50): each spawn's seconds, box plot plus points; failures as x."""
    figure, axes = plt.subplots(1, 3, figsize=(13, 4.5))
    for axis, attribute in zip(axes, ("spawn1", "spawn10", "spawn50"), strict=True):
        first = getattr(next(iter(results.values())), attribute)
        title = "1 user, one after another" if attribute == "spawn1" else f"{len(first)} at once"
        for position, (name, result) in enumerate(results.items(), start=1):
            spawns = getattr(result, attribute)
            ok = [s.seconds for s in spawns if s.ok]
            failed = [s.seconds for s in spawns if not s.ok]
            if ok:
                axis.boxplot([ok], positions=[position], widths=0.5, showfliers=False)
            axis.scatter([position + 0.18 * ((i % 5) / 4 - 0.5) for i in range(len(ok))], ok, s=12, color=COLORS[name], zorder=3)
            if failed:
                axis.scatter([position] * len(failed), failed, marker="x", color="red", label="failed", zorder=4)
        axis.set_xticks(range(1, len(results) + 1), [f"{name}" for name in results])
        axis.set_title(title)
        axis.set_ylabel("POST server -> API answers through the proxy (s)")
        axis.set_ylim(bottom=0)
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle("Spawn latency via the hub")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def reload_timeline(reloads: dict[str, ReloadResult], path: Path) -> None:
    """One panel per arrangement: each polled URL as a row, green answered, red failed; the apply shaded."""
    figure, axes = plt.subplots(len(reloads), 1, figsize=(12, 2.2 + 1.3 * len(reloads)), sharex=True, squeeze=False)
    for axis, (name, reload) in zip(axes[:, 0], reloads.items(), strict=True):
        for row, timeline in enumerate(reload.timelines):
            ok = [t for t, answered in timeline.points if answered]
            failed = [t for t, answered in timeline.points if not answered]
            axis.scatter(ok, [row] * len(ok), marker="|", s=90, color="tab:green")
            axis.scatter(failed, [row] * len(failed), marker="|", s=90, color="tab:red")
        axis.axvspan(*reload.apply_window, color="grey", alpha=0.2, label="apply")
        axis.set_yticks(range(len(reload.timelines)), [t.label for t in reload.timelines])
        axis.set_ylim(-0.7, len(reload.timelines) - 0.3)
        axis.set_title(
            f"{name}: notebook requests failed {reload.failed}/{reload.total}, "
            f"hub API down {reload.hub_downtime_s:.2f}s (grey: apply)"
        )
    axes[-1, 0].set_xlabel("seconds since polling started (every 50 ms; green 200, red failed)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
