"""Spawn latency in Swarm mode beside single-host mode, in one run: `venv/bin/python -m bench.swarm_spawn`.

Deploys the dev stack twice through the e2e harness: on this host's engine (single
mode), and on the 3-node test Swarm (testkit.swarm_cluster; `cluster.mode: swarm`, the
provider pointed at the manager). On each: 5 spawns of one user one after another (each
stopped before the next), then 10 users at once; every spawn timed from the POST until the
server's API answers through the proxy. In swarm mode also: each node's first spawn (the
image pre-pulled there, never run by a server) against the later ones, and how long an
apply takes to build, push and pre-pull a new notebook image on every node.
Writes bench/results/swarm-spawn.{json,md}. The test nodes share this machine's 2 cores
and one disk: the figures show Swarm mode's overhead, not a cluster's capacity.
"""

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
import yaml

from bench.common import RESULTS_DIR, median, percentile, ratio
from bench.resources import machine
from bench.users import Spawn, admin_signed_up, spawn, spawn_at_once, users_created
from components.names import DeploymentNames
from testkit.endpoints import free_loopback_port, wait_for
from testkit.harness import Harness
from testkit.hub_user import HubUser
from testkit.program_runner import PROJECT, copy_project
from testkit.swarm_cluster import down, remove_images, up

CLUSTER = "jhbench-swarm"
SWARM_PORT = 8000
SEQUENTIAL = 5
AT_ONCE = 10
SPAWN_TIMEOUT_S = 300
HUB_WAIT_S = 120
MEMORY_LIMIT = "512M"
# 10 servers' reservations must fit the test Swarm's 3 x 2 cores, 4 on one node beside the
# pre-pull's holder task (0.01 CPU): 4 x 0.5 did not. A lower limit makes the server's own
# start (CPU-bound) hide what Swarm mode adds.
DEFAULT_CPU_LIMIT = "0.4"


def log(message: str) -> None:
    print(f"bench.swarm_spawn: {message}", flush=True)


def deploy(project: Path, settings: dict[str, Any], docker_host: str = "") -> Harness:
    project.mkdir(parents=True)
    copy_project(project)
    stack_file = project / "Pulumi.dev.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"].update({f"{PROJECT}:{key}": value for key, value in settings.items()})
    if docker_host:
        document["config"]["docker:host"] = docker_host
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    harness = Harness(project, "dev", {}, run_id=uuid.uuid4().hex[:12])
    harness.up()
    return harness


def stop(users: list[HubUser]) -> None:
    for user in users:
        user.api("DELETE", f"/hub/api/users/{user.name}/server")
    for user in users:
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        while user.model()["servers"] and time.monotonic() < deadline:
            time.sleep(0.2)


def spawns(base_url: str) -> dict[str, list[Spawn]]:
    wait_for(f"{base_url}/hub/api/", HUB_WAIT_S)
    admin = admin_signed_up(base_url)
    users = users_created(admin, [f"spawn{n:02d}" for n in range(1, AT_ONCE + 1)])
    sequential = []
    for _ in range(SEQUENTIAL):
        sequential.append(spawn(users[0], SPAWN_TIMEOUT_S))
        stop(users[:1])
    at_once = spawn_at_once(users, SPAWN_TIMEOUT_S)
    stop(users)
    return {"sequential": sequential, "at_once": at_once}


def summary(result: dict[str, list[Spawn]]) -> dict[str, Any]:
    sequential = [s.seconds for s in result["sequential"] if s.ok]
    at_once = [s.seconds for s in result["at_once"] if s.ok]
    return {
        "spawn_1_s": sequential,
        "spawn_1_p50_s": median(sequential),
        "spawn_10_s": at_once,
        "spawn_10_p95_s": percentile(at_once, 95),
        "failed": [s.detail for s in result["sequential"] + result["at_once"] if not s.ok],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.swarm_spawn", description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-limit", default=DEFAULT_CPU_LIMIT, help="spawner.cpuLimit of every server")
    limits = {"memLimit": MEMORY_LIMIT, "cpuLimit": parser.parse_args().cpu_limit}
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    client = docker.from_env(timeout=600)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-swarm-") as scratch:
        single_port = free_loopback_port()
        log("single host: deploying")
        single = deploy(Path(scratch) / "single", {"name": "jhbench-single", "publicPort": str(single_port), "spawner": limits})
        try:
            figures["single"] = summary(spawns(f"http://127.0.0.1:{single_port}"))
        finally:
            single.destroy()
            for volume in client.volumes.list():
                if volume.name.startswith("jhbench-single-"):
                    volume.remove(force=True)
        try:
            log("swarm: starting the test Swarm and deploying")
            cluster = up(CLUSTER, nodes=3, publish=[SWARM_PORT])
            swarm_settings = {
                "name": "jhbench-sw",
                "publicIp": "0.0.0.0",
                "publicPort": str(SWARM_PORT),
                "spawner": limits,
                "cluster": {"mode": "swarm", "registry": cluster.registry},
            }
            project = Path(scratch) / "swarm"
            swarm = deploy(project, swarm_settings, cluster.manager_url)
            result = spawns(f"http://127.0.0.1:{cluster.published[SWARM_PORT]}")
            figures["swarm"] = summary(result)
            log("swarm: a new notebook image to every node")
            dockerfile = project / "build.notebook" / "Dockerfile"
            dockerfile.write_text(dockerfile.read_text() + "\nLABEL org.jupyterhub-docker.bench=new-image\n")
            figures["swarm"]["new_image_apply_s"] = swarm.up().seconds
            first_on_node = first_spawn_per_node(cluster.client(), f"http://127.0.0.1:{cluster.published[SWARM_PORT]}")
            figures["swarm"] |= first_on_node
            for service in cluster.client().services.list(filters={"name": "jupyter-"}):
                service.remove()
            swarm.destroy()
        finally:
            down(CLUSTER)
            remove_images(CLUSTER)
    figures["swarm_over_single_spawn_1_p50"] = ratio(figures["swarm"]["spawn_1_p50_s"], figures["single"]["spawn_1_p50_s"])
    figures["first_on_node_over_warm"] = ratio(
        median(figures["swarm"]["first_spawn_on_node_s"]), median(figures["swarm"]["later_spawn_on_node_s"])
    )
    write(figures, machine(client), started_at, limits)


def first_spawn_per_node(manager: docker.DockerClient, base_url: str) -> dict[str, Any]:
    """After the new image: users spawn one at a time until every node ran a server of it
    once; each node's first spawn of the image (pre-pulled, never run) against later ones."""
    admin = admin_signed_up(base_url)
    users = users_created(admin, [f"fresh{n:02d}" for n in range(1, 7)])
    first: list[float] = []
    later: list[float] = []
    seen: set[str] = set()
    names = DeploymentNames("jhbench-sw")
    for user in users:
        timed = spawn(user, SPAWN_TIMEOUT_S)
        tasks = manager.services.get(names.user_server(user.name)).tasks({"desired-state": "running"})
        node = tasks[0]["NodeID"]
        (later if node in seen else first).append(timed.seconds)
        seen.add(node)
    stop(users)
    return {"first_spawn_on_node_s": first, "later_spawn_on_node_s": later}


def write(figures: dict[str, Any], machine_facts: dict[str, Any], started_at: str, limits: dict[str, str]) -> None:
    (RESULTS_DIR / "swarm-spawn.json").write_text(
        json.dumps({"started_at": started_at, "machine": machine_facts, "limits": limits, **figures}, indent=2) + "\n"
    )
    single, swarm = figures["single"], figures["swarm"]

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    lines = [
        "# Spawn latency: Swarm mode beside single-host mode",
        "",
        f"Run {started_at} on {machine_facts.get('cpu_model')}, {machine_facts.get('cores')} cores, "
        f"{machine_facts.get('memory_gib')} GiB. Swarm: 3 Docker-in-Docker nodes on this same machine (they share its "
        f"cores and disk: overhead, not capacity). Servers: {limits['memLimit']}, {limits['cpuLimit']} CPU.",
        "",
        "| figure | single host | swarm | goal |",
        "|---|---|---|---|",
        f"| 1 user, p50 of {SEQUENTIAL} | {single['spawn_1_p50_s']:.2f} s | {swarm['spawn_1_p50_s']:.2f} s "
        f"({figures['swarm_over_single_spawn_1_p50']:.2f}x) | ≤ 1.5x |",
        f"| {AT_ONCE} at once, p95 | {single['spawn_10_p95_s']:.2f} s | {swarm['spawn_10_p95_s']:.2f} s | |",
        f"| failed spawns | {len(single['failed'])} | {len(swarm['failed'])} | 0 |",
        f"| a node's first spawn of a new image (pre-pulled) vs later spawns, median | | "
        f"{median(swarm['first_spawn_on_node_s']):.2f} s vs {median(swarm['later_spawn_on_node_s']):.2f} s "
        f"({figures['first_on_node_over_warm']:.2f}x) | ≤ 1.2x |",
        f"| apply of a new notebook image (build, push, pre-pull on 3 nodes) | | {swarm['new_image_apply_s']:.1f} s | |",
        "",
        f"Runs (s): single 1 user {runs(single['spawn_1_s'])}; swarm 1 user {runs(swarm['spawn_1_s'])}; "
        f"swarm first on a node {runs(swarm['first_spawn_on_node_s'])}, later {runs(swarm['later_spawn_on_node_s'])}.",
        "Without pre-pulling, a first start on a node waits for the pull: bench/results/swarm-images.md.",
        "",
    ]
    (RESULTS_DIR / "swarm-spawn.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
