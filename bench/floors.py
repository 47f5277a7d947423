"""Floors: what the engine and the notebook server cost on their own, without the hub."""

from __future__ import annotations

import functools
import secrets
import subprocess
import time

import requests

from bench.common import BENCH_LABEL, Scope, wait_until
from tests.e2e.deployed import free_loopback_port

SERVER_PORT = 8888
SERVER_TIMEOUT_S = 60
POLL_S = 0.02


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


def server_floor(notebook_image: str, scope: Scope, runs: int, cpus: float, memory: str) -> list[float]:
    """Seconds from `docker run` of the notebook image (`jupyter server`, the user
    containers' CPU and memory limits) until its API answers on a published loopback port."""
    seconds = []
    for index in range(runs):
        port = free_loopback_port()
        name = f"jhbench-floor-{scope.run_id}-{index}"
        started = time.monotonic()
        _docker(
            "run", "-d", "--rm", "--name", name, "--label", f"{BENCH_LABEL}={scope.run_id}",
            f"--cpus={cpus}", f"--memory={memory}", "-p", f"127.0.0.1:{port}:{SERVER_PORT}",
            notebook_image, "jupyter", "server", "--ip=0.0.0.0", f"--port={SERVER_PORT}",
            f"--IdentityProvider.token={secrets.token_hex(16)}",
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/api"
            wait_until(functools.partial(_answers, url), SERVER_TIMEOUT_S, POLL_S, "notebook server")
            seconds.append(time.monotonic() - started)
        finally:
            _docker("rm", "-f", name)
    return seconds
