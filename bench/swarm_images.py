"""How a notebook image reaches every node of a Swarm: `venv/bin/python -m bench.swarm_images`.

For the design of Swarm mode (issue 11): it starts the test Swarm (testkit.swarm_cluster,
3 nodes), loads a notebook image into the manager, pushes it to the cluster's registry,
then measures, each from workers without the image:
- pre-pull with a pull on every worker at once (through each node's engine);
- pre-pull with a global one-shot service (through the manager alone);
- a server's first start on a node without the image, and on one with it (a task of the
  image that runs `sleep`: the pull is the difference).
Writes bench/results/swarm-images.{json,md}. The nodes share this machine's cores and
disk: the figures show overhead and proportions, not a real cluster's capacity.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import threading
import time
from typing import Any

import docker
import docker.types

from bench.common import RESULTS_DIR, median, ratio
from bench.resources import machine
from testkit.endpoints import wait_until
from testkit.swarm_cluster import SwarmCluster, down, load_image, node_command, remove_images, up

CLUSTER = "jhbench-swarm"
ROUNDS = 3
TASK_WAIT_S = 300


def log(message: str) -> None:
    print(f"bench-swarm: {message}", flush=True)


def newest_notebook_image(client: docker.DockerClient) -> str:
    tagged = [(image.attrs["Created"], tag) for image in client.images.list() for tag in image.tags if "-notebook:" in tag]
    if not tagged:
        raise SystemExit("no <name>-notebook image on this host: deploy once (or run the e2e tests), or pass --image")
    return max(tagged)[1]


def timed(action: Any, *args: Any) -> float:
    started = time.monotonic()
    action(*args)
    return time.monotonic() - started


def on_node(node: str, *command: str) -> str:
    return node_command(node, "docker", *command)


def forget_on_workers(cluster: SwarmCluster, reference: str) -> None:
    for node in cluster.nodes[1:]:
        subprocess.run(["docker", "exec", node, "docker", "image", "rm", "-f", reference], capture_output=True, timeout=120)
        subprocess.run(["docker", "exec", node, "docker", "image", "prune", "-f"], capture_output=True, timeout=120)


def pull_on_every_worker(cluster: SwarmCluster, reference: str) -> None:
    threads = [threading.Thread(target=on_node, args=(node, "pull", "-q", reference)) for node in cluster.nodes[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TASK_WAIT_S)


def global_one_shot(manager: docker.DockerClient, reference: str, nodes: int) -> None:
    service = manager.services.create(
        reference,
        ["true"],
        name="prepull",
        mode=docker.types.ServiceMode("global"),
        restart_policy=docker.types.RestartPolicy(condition="none"),
    )
    try:
        wait_until(
            lambda: len([t for t in service.tasks() if t["Status"]["State"] == "complete"]) >= nodes,
            TASK_WAIT_S,
            0.2,
            "the pre-pull service on every node",
        )
    finally:
        service.remove()


def start_on(manager: docker.DockerClient, reference: str, node: str) -> float:
    """Seconds from creating a one-task service on `node` until its task runs."""
    started = time.monotonic()
    service = manager.services.create(
        reference,
        ["sleep", "300"],
        name="first-start",
        constraints=[f"node.hostname == {node}"],
        endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
        restart_policy=docker.types.RestartPolicy(condition="none"),
    )
    try:
        wait_until(lambda: any(t["Status"]["State"] == "running" for t in service.tasks()), TASK_WAIT_S, 0.05, "the task running")
        return time.monotonic() - started
    finally:
        service.remove()
        wait_until(lambda: not manager.services.list(filters={"name": "first-start"}), 60, 0.2, "the service gone")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.swarm_images", description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="the image to distribute (default: the newest <name>-notebook image here)")
    options = parser.parse_args()
    client = docker.from_env(timeout=600)
    image = options.image or newest_notebook_image(client)
    size_mb = client.images.get(image).attrs["Size"] / 1e6
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    figures: dict[str, Any] = {"image": image, "image_mb": round(size_mb, 1)}
    try:
        began = time.monotonic()
        cluster = up(CLUSTER, nodes=3)
        figures["cluster_up_s"] = time.monotonic() - began
        manager = cluster.client()
        log(f"loading {image} ({size_mb:.0f} MB) into the manager")
        figures["load_into_manager_s"] = timed(load_image, image, cluster.manager)
        pushed = f"{cluster.registry}/notebook:bench"
        on_node(cluster.manager, "tag", image, pushed)
        figures["push_to_registry_s"] = timed(on_node, cluster.manager, "push", "-q", pushed)
        reference = on_node(cluster.manager, "image", "inspect", "--format", "{{index .RepoDigests 0}}", pushed)
        by_pull, by_service, cold, warm = [], [], [], []
        for number in range(ROUNDS):
            log(f"round {number + 1}: pre-pull on every worker, by pulls and by a global one-shot service")
            forget_on_workers(cluster, reference)
            by_pull.append(timed(pull_on_every_worker, cluster, reference))
            forget_on_workers(cluster, reference)
            by_service.append(timed(global_one_shot, manager, reference, len(cluster.nodes)))
            log(f"round {number + 1}: first start on a worker without the image, then with it")
            forget_on_workers(cluster, reference)
            cold.append(start_on(manager, reference, cluster.nodes[1]))
            warm.append(start_on(manager, reference, cluster.nodes[1]))
        figures |= {
            "prepull_by_pulls_s": by_pull,
            "prepull_by_global_service_s": by_service,
            "first_start_without_image_s": cold,
            "start_with_image_s": warm,
            "cold_over_warm": ratio(median(cold), median(warm)),
        }
        write(figures, machine(client), started_at)
    finally:
        down(CLUSTER)
        remove_images(CLUSTER)


def write(figures: dict[str, Any], machine_facts: dict[str, Any], started_at: str) -> None:
    (RESULTS_DIR / "swarm-images.json").write_text(
        json.dumps({"started_at": started_at, "machine": machine_facts, **figures}, indent=2) + "\n"
    )

    def med(key: str) -> str:
        return f"{median(figures[key]):.1f} s (runs: {', '.join(f'{v:.1f}' for v in figures[key])})"

    lines = [
        "# A notebook image reaching every node of the test Swarm",
        "",
        f"Run {started_at} on {machine_facts.get('cpu_model')}, {machine_facts.get('cores')} cores, "
        f"{machine_facts.get('memory_gib')} GiB; 3 Docker-in-Docker nodes on this one machine (testkit.swarm_cluster), "
        f"image `{figures['image']}` ({figures['image_mb']} MB), {ROUNDS} rounds.",
        "",
        "| step | median |",
        "|---|---|",
        f"| test Swarm up (3 nodes Ready, base image on the manager) | {figures['cluster_up_s']:.1f} s |",
        f"| image into the manager (`docker save`, then `docker load` in the node) | {figures['load_into_manager_s']:.1f} s |",
        f"| push to the cluster's registry | {figures['push_to_registry_s']:.1f} s |",
        f"| pre-pull on both workers: a pull on each at once | {med('prepull_by_pulls_s')} |",
        f"| pre-pull on both workers: a global one-shot service | {med('prepull_by_global_service_s')} |",
        f"| a server's first start on a worker without the image | {med('first_start_without_image_s')} |",
        f"| a server's start on a worker with the image | {med('start_with_image_s')} |",
        "",
        f"First start without the image / with it: {figures['cold_over_warm']:.1f} x. The nodes share this "
        "machine's cores and disk, so the figures show overhead and proportions, not capacity.",
    ]
    (RESULTS_DIR / "swarm-images.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
