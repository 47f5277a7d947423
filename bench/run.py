"""One benchmark run: `python -m bench.run` (from the repository root); see bench/README.md."""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker

from bench import baseline, ours, plots, report
from bench.common import BASELINE, BENCH_LABEL, OURS, RESULTS_DIR, Scope, remove_owned, remove_owned_images
from bench.floors import HubEndpoint, ServerLimits, container_floor, jupyter_server_floor, server_floor
from bench.measure import Arrangement, ArrangementResult, Plan, measure, wait_for_hub
from bench.rebuild import rebuild_times
from bench.resources import foreign_containers, image_mb, load_average, machine
from bench.users import user_containers
from components.names import DeploymentNames
from testkit.endpoints import free_loopback_port

FLOOR_RUNS = 5


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="latest", help="stem of the result files in bench/results (default: latest)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 single spawns, 3 and 6 at once, no cold rebuild")
    return parser.parse_args()


def measure_ours(stack: ours.OurStack, client: docker.DockerClient, plan: Plan) -> ArrangementResult:
    names = DeploymentNames(OURS)
    arrangement = Arrangement(
        "ours", OURS, stack.base_url, names.hub_container, names.proxy_container, names.user_server_template, stack.reload
    )
    return measure(arrangement, client, plan)


def measure_baseline(stack: ours.OurStack, image: str, client: docker.DockerClient, plan: Plan) -> ArrangementResult:
    base = baseline.deploy(stack, image, free_loopback_port())
    try:
        arrangement = Arrangement(
            "baseline", BASELINE, base.base_url, f"{BASELINE}-hub", f"{BASELINE}-hub", "jupyter-{username}", base.reload
        )
        return measure(arrangement, client, plan)
    finally:
        _remove_user_containers(client, BASELINE)
        base.destroy()


def _remove_user_containers(client: docker.DockerClient, deployment: str) -> None:
    for container in user_containers(client, deployment):
        container.remove(force=True)


def server_context(stack: ours.OurStack) -> tuple[ServerLimits, HubEndpoint]:
    """The user containers' limits and where they find the hub, from the hub's settings upload."""
    upload = next(u for u in stack.hub_inputs()["uploads"] if u["file"].endswith(".json"))
    settings = json.loads(upload["content"])
    spawner, hub = settings["spawner"]["traitlets"]["DockerSpawner"], settings["hub"]
    api_url = f"http://{hub['connectIp']}:{hub['port']}/hub/api"
    return ServerLimits(float(spawner["cpu_limit"]), str(spawner["mem_limit"])), HubEndpoint(api_url, spawner["network_name"])


def assemble(
    scope: Scope,
    started_at: str,
    duration_s: float,
    figures: dict[str, Any],
    results: dict[str, ArrangementResult],
    extra: dict[str, Any],
) -> dict[str, Any]:
    mine, base = results["ours"], results["baseline"]
    r: dict[str, Any] = {"run_id": scope.run_id, "started_at": started_at, "duration_s": duration_s, **figures, **extra}
    r.update(report.arrangement_figures("", mine))
    r.update(report.arrangement_figures("baseline_", base))
    r.update(
        {
            "mem_proxy_mib": mine.mem.get("proxy_idle"),
            "mem_proxy_50_mib": mine.mem.get("proxy_50"),
            "mem_hub_idle_mib": mine.mem.get("hub_idle"),
            "mem_hub_50_mib": mine.mem.get("hub_50"),
            "mem_notebook_mib": mine.mem.get("notebook_idle"),
            "baseline_mem_hub_idle_mib": base.mem.get("hub_idle"),
            "baseline_mem_hub_50_mib": base.mem.get("hub_50"),
        }
    )
    r["ratios"] = report.ratios(r)
    r["goals"] = [goal.as_dict() for goal in report.goals(r)]
    return r


def main() -> None:
    args = parse_args()
    plan = Plan(spawn1_runs=2, concurrent=(3, 6), reloads=1) if args.quick else Plan()
    scope = Scope(uuid.uuid4().hex[:10])
    client = docker.from_env(timeout=600)
    started, started_at = time.monotonic(), datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    extra: dict[str, Any] = {"machine": machine(client), "plan": vars(args)}
    foreign: set[str] = set(foreign_containers(client, BENCH_LABEL))
    loads = [load_average()]
    remove_owned(client)
    with tempfile.TemporaryDirectory(prefix="jhbench-") as work:
        work_dir = Path(work)
        project = ours.copy_of_project(work_dir / "project")
        try:
            log(f"run {scope.run_id}: deploying the dev stack as {OURS}")
            stack = ours.deploy(project, free_loopback_port(), scope)
            extra["deploy_s"] = stack.first.seconds
            image, extra["baseline_image_build_s"] = baseline.build_image(client, stack, scope)
            refs = {key: stack.image_ref(f"{key}Image") for key in ("proxy", "hub", "notebook")}
            extra["image_mb"] = {**{k: image_mb(client, ref) for k, ref in refs.items()}, "baseline_hub": image_mb(client, image)}
            extra["images"] = {**refs, "baseline_hub": image}
            log("floors")
            limits, hub = server_context(stack)
            wait_for_hub(stack.base_url)
            figures = report.floors(
                container_floor(stack.base_image(), scope, FLOOR_RUNS),
                server_floor(refs["notebook"], scope, FLOOR_RUNS, limits, hub),
                jupyter_server_floor(refs["notebook"], scope, FLOOR_RUNS, limits),
            )
            results = {"ours": measure_ours(stack, client, plan)}
            foreign |= set(foreign_containers(client, BENCH_LABEL))
            loads.append(load_average())
            _remove_user_containers(client, OURS)
            results["baseline"] = measure_baseline(stack, image, client, plan)
            foreign |= set(foreign_containers(client, BENCH_LABEL))
            loads.append(load_average())
            _remove_user_containers(client, OURS)
            stack.destroy()
            log("notebook image rebuild")
            cold, warm = (
                (None, None)
                if args.quick
                else rebuild_times(project / "build.notebook", work_dir, stack.build_inputs("notebook-image"), scope)
            )
            figures.update({"rebuild_cold_s": cold, "rebuild_warm_s": warm})
            foreign |= set(foreign_containers(client, BENCH_LABEL))
            loads.append(load_average())
        finally:
            remove_owned(client)
            remove_owned_images(client)
    extra["foreign_containers"] = sorted(foreign)
    extra["plot_suffix"] = "" if args.out == "latest" else f"_{args.out}"
    extra["load_average_1m"] = loads
    r = assemble(scope, started_at, time.monotonic() - started, figures, results, extra)
    json_path, md_path = report.write(r, RESULTS_DIR, args.out)
    suffix = r["plot_suffix"]
    plots.spawn_latency(results, RESULTS_DIR / f"spawn_latency{suffix}.png")
    typical = {name: result.typical_reload for name, result in results.items()}
    plots.reload_timeline({k: v for k, v in typical.items() if v}, RESULTS_DIR / f"reload_timeline{suffix}.png")
    log(f"wrote {json_path}, {md_path} and the plots in {RESULTS_DIR} ({r['duration_s']:.0f} s)")
    print(md_path.read_text())


if __name__ == "__main__":
    main()
