"""Names, labels and small helpers shared by the benchmark's parts."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from components.names import DeploymentNames

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
# Everything the benchmark creates itself carries this label (value: the run id).
BENCH_LABEL = "org.jupyterhub-docker.bench"
# DockerSpawner's user containers carry <DEPLOYMENT_LABEL>=<deployment name>.
DEPLOYMENT_LABEL = "org.jupyterhub-docker.deployment"
OURS = "jhbench"  # our arrangement: <name>-proxy, <name>-hub, network <name>, volumes <name>-*
BASELINE = "jhbase"  # the baseline arrangement: proxy inside <name>-hub
USER_PREFIX = "bench"
ADMIN = "admin"  # the dev stack's admin user


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return value / reference


@dataclass(frozen=True)
class Scope:
    """What this run may touch: its own label value and the names it owns."""

    run_id: str

    @property
    def labels(self) -> dict[str, str]:
        return {BENCH_LABEL: self.run_id}


def _owned_name(name: str) -> bool:
    return name.startswith((f"{OURS}-", f"{BASELINE}-"))


def remove_owned(client: docker.DockerClient) -> None:
    """Remove what benchmark runs create: the jhbench/jhbase deployments' containers, volumes
    and networks, and anything labelled BENCH_LABEL.

    Nothing else is touched: the e2e tests (jhe2e) may be running on the same engine.
    """
    containers = client.containers.list(all=True, filters={"label": BENCH_LABEL})
    for deployment in (OURS, BASELINE):
        containers += client.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={deployment}"})
    for container in client.containers.list(all=True):
        if _owned_name(container.name):
            containers.append(container)
    for container in {c.id: c for c in containers}.values():
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    for volume in client.volumes.list():
        if _owned_name(volume.name):
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)
    owned_networks = (OURS, DeploymentNames(OURS).docker_api_network, BASELINE)
    for network in client.networks.list(names=list(owned_networks)):
        if network.name in owned_networks:
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()


def remove_owned_images(client: docker.DockerClient) -> None:
    """Images the run built (tagged jhbench-*/jhbase-*, or labelled BENCH_LABEL) and the
    untagged stage images built FROM them (the baseline build's), children first."""
    for _ in range(4):
        everything = client.images.list(all=True)
        owned = {i.id for i in everything if any(_owned_name(t) for t in i.tags) or BENCH_LABEL in (i.labels or {})}
        parents = {i.id: i.attrs.get("Parent", "") for i in everything}
        doomed = {i.id for i in everything if not i.tags and _descends(i.id, owned, parents)} | owned
        if not doomed:
            return
        children_first = sorted(doomed, key=lambda image_id: -_depth(image_id, parents))
        for image_id in children_first:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.images.remove(image_id, force=True)


def _descends(image_id: str, ancestors: set[str], parents: dict[str, str]) -> bool:
    for _ in range(500):
        image_id = parents.get(image_id, "")
        if not image_id:
            return False
        if image_id in ancestors:
            return True
    return False


def _depth(image_id: str, parents: dict[str, str]) -> int:
    depth = 0
    while parents.get(image_id) and depth < 500:
        image_id, depth = parents[image_id], depth + 1
    return depth
