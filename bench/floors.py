"""Floors: what the engine and the notebook server cost on their own, not started by the hub."""

from __future__ import annotations

import functools
import secrets
import subprocess
import time
from dataclasses import dataclass

import requests

from bench.common import BENCH_LABEL, Scope
from testkit.endpoints import free_loopback_port, wait_until

SERVER_PORT = 8888
SERVER_TIMEOUT_S = 60
POLL_S = 0.02
FLOOR_USER = "floor"


@dataclass(frozen=True)
class ServerLimits:
    """The user containers' CPU and memory limits, as the spawner sets them."""

    cpus: float
    memory: str

    def run_args(self, scope: Scope) -> list[str]:
        return [f"--cpus={self.cpus}", f"--memory={self.memory}", "--label", f"{BENCH_LABEL}={scope.run_id}"]


@dataclass(frozen=True)
class HubEndpoint:
    """Where a user's server finds the hub: its API URL on the deployment's network."""

    api_url: str
    network: str


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} ...: {done.stderr.strip()}")
    return done.stdout.strip()


def container_floor(base_image: str, scope: Scope, runs: int) -> list[float]:
    """Seconds for `docker run --rm <base> true`, `runs` times."""
    seconds = []
    for _ in range(runs):
        started = time.monotonic()
        _docker("run", "--rm", "--label", f"{BENCH_LABEL}={scope.run_id}", base_image, "true")
        seconds.append(time.monotonic() - started)
    return seconds


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _start_seconds(name: str, port: int, url_path: str, run_args: list[str]) -> float:
    """Seconds from `docker run -d` of a notebook server (published on loopback `port`)
    until `url_path` answers 200; the container is removed afterwards."""
    started = time.monotonic()
    _docker("run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:{SERVER_PORT}", *run_args)
    try:
        url = f"http://127.0.0.1:{port}{url_path}"
        wait_until(functools.partial(_answers, url), SERVER_TIMEOUT_S, POLL_S, "notebook server")
        return time.monotonic() - started
    finally:
        _docker("rm", "-f", name)


def server_floor(image: str, scope: Scope, runs: int, limits: ServerLimits, hub: HubEndpoint) -> list[float]:
    """Seconds until the image's own server (`jupyterhub-singleuser`, what every spawn
    runs) answers, started by `docker run` with the user containers' limits, not by
    the hub. It asks the hub's API its version once as it starts, so it runs on the
    deployment's network with the variables DockerSpawner would set."""
    prefix = f"/user/{FLOOR_USER}/"
    env = {
        "JUPYTERHUB_API_URL": hub.api_url,
        "JUPYTERHUB_API_TOKEN": secrets.token_hex(16),
        "JUPYTERHUB_USER": FLOOR_USER,
        "JUPYTERHUB_SERVICE_PREFIX": prefix,
        "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:{SERVER_PORT}{prefix}",
    }
    run_args = [*limits.run_args(scope), "--network", hub.network]
    run_args += [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    names = [f"jhbench-floor-{scope.run_id}-{index}" for index in range(runs)]
    return [_start_seconds(name, free_loopback_port(), f"{prefix}api", [*run_args, image]) for name in names]


def jupyter_server_floor(image: str, scope: Scope, runs: int, limits: ServerLimits) -> list[float]:
    """Seconds until a bare `jupyter server` from the image answers: the same server and
    extensions without JupyterHub's single-user layer (which imports the hub's ORM)."""
    command = ["jupyter", "server", "--ip=0.0.0.0", f"--port={SERVER_PORT}", f"--IdentityProvider.token={secrets.token_hex(16)}"]
    run_args = [*limits.run_args(scope), image, *command]
    names = [f"jhbench-floor-{scope.run_id}-plain-{index}" for index in range(runs)]
    return [_start_seconds(name, free_loopback_port(), "/api", run_args) for name in names]
