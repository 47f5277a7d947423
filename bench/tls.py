"""HTTPS beside plain HTTP, in one run: `venv/bin/python -m bench.tls`.

Deploys the dev stack once through the e2e harness (`jhbench`). First on plain HTTP (the
proxy publishes the port), then with `tls.mode files` (a self-signed certificate; the TLS
terminator in front of the proxy): on each, SEQUENTIAL spawns of one user one after another
(each stopped before the next), timed from the POST until the server's API answers
through the published port, and RELOADS hub reloads under load (3 notebooks and the hub API
polled every 50 ms while the hub container is replaced). An ACME certificate costs the same
per request as one from files: only how it was obtained differs. Writes
bench/results/tls.{json,md}.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import docker

from bench.common import OURS, RESULTS_DIR, Scope, median, ratio, remove_owned, remove_owned_images
from bench.measure import Arrangement, reload_under_load, wait_for_hub
from bench.ours import OurStack, copy_of_project, deploy
from bench.resources import machine, mem_mib
from bench.users import BenchUser, Spawn, admin_signed_up, spawn, stop_all, users_created
from components.names import DeploymentNames
from testkit.certificates import loopback_certificate
from testkit.endpoints import free_loopback_port
from testkit.hub_user import HubUser

SEQUENTIAL = 9
RELOADS = 3
PROBED = 3
SPAWN_TIMEOUT_S = 300
NAMES = DeploymentNames(OURS)


def log(message: str) -> None:
    print(f"bench.tls: {message}", flush=True)


def as_user_at(base_url: str, user: HubUser) -> HubUser:
    """The same hub user (same token) through another URL."""
    moved = HubUser(base_url, user.name, user.password)
    moved.token = user.token
    return moved


def measure(stack: OurStack, client: docker.DockerClient, base_url: str, users: list[HubUser], admin: HubUser) -> dict[str, Any]:
    wait_for_hub(base_url)
    spawns: list[Spawn] = []
    for run in range(SEQUENTIAL):
        spawns.append(spawn(users[0], SPAWN_TIMEOUT_S))
        log(f"{base_url} spawn {run + 1}: {spawns[-1].seconds:.2f}s {spawns[-1].detail}")
        stop_all(admin, users[:1], client, OURS)
    for user in users[:PROBED]:
        assert spawn(user, SPAWN_TIMEOUT_S).ok
    arrangement = Arrangement(
        "ours", OURS, base_url, NAMES.hub_container, NAMES.proxy_container, NAMES.user_server_template, stack.reload
    )
    reloads = [reload_under_load(arrangement, users[:PROBED], PROBED) for _ in range(RELOADS)]
    stop_all(admin, users[:PROBED], client, OURS)
    ok = [s.seconds for s in spawns if s.ok]
    return {
        "spawn_1_s": ok,
        "spawn_1_p50_s": median(ok),
        "failed_spawns": [s.detail for s in spawns if not s.ok],
        "reload_failed": sum(r.failed for r in reloads),
        "reload_requests": sum(r.total for r in reloads),
        "reload_hub_downtime_s": [r.hub_downtime_s for r in reloads],
        "terminator_mem_mib": mem_mib(client, NAMES.tls_container) if base_url.startswith("https") else None,
    }


def main() -> None:
    client = docker.from_env(timeout=600)
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    scope = Scope(uuid.uuid4().hex[:12])
    port = free_loopback_port()
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as folder:
        workdir = Path(folder)
        remove_owned(client)
        stack = deploy(copy_of_project(workdir / "project"), port, scope)
        try:
            http_url = f"http://127.0.0.1:{port}"
            wait_for_hub(http_url)
            admin = admin_signed_up(http_url)
            users = users_created(admin, [f"tls{n:02d}" for n in range(1, PROBED + 1)])
            log("plain HTTP")
            plain = measure(stack, client, http_url, users, admin)

            certificate, key = loopback_certificate(workdir)
            os.environ["REQUESTS_CA_BUNDLE"] = str(certificate)
            stack.harness.config["tls"] = json.dumps({"mode": "files", "httpPort": 0})
            stack.harness.secrets.update({"tlsCertificate": certificate.read_text(), "tlsKey": key.read_text()})
            stack.harness.up()
            https_url = f"https://127.0.0.1:{port}"
            wait_for_hub(https_url)
            https_admin = BenchUser(https_url, admin.name, admin.password)
            https_admin.log_in()
            log("HTTPS")
            tls = measure(stack, client, https_url, [as_user_at(https_url, u) for u in users], https_admin)
        finally:
            stack.destroy()
            remove_owned(client)
            remove_owned_images(client)
    write({"plain": plain, "https": tls}, machine(client), started_at)


def write(figures: dict[str, Any], machine_facts: dict[str, Any], started_at: str) -> None:
    plain, tls = figures["plain"], figures["https"]
    spawn_ratio = ratio(tls["spawn_1_p50_s"], plain["spawn_1_p50_s"])
    (RESULTS_DIR / "tls.json").write_text(
        json.dumps(
            {"started_at": started_at, "machine": machine_facts, "https_over_http_spawn_1_p50": spawn_ratio, **figures}, indent=2
        )
        + "\n"
    )

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    lines = [
        "# HTTPS beside plain HTTP",
        "",
        f"Run {started_at} on {machine_facts.get('cpu_model')}, {machine_facts.get('cores')} cores, "
        f"{machine_facts.get('memory_gib')} GiB. One deployment (dev stack), first plain HTTP, then `tls.mode files`.",
        "",
        "| figure | plain HTTP | HTTPS (terminator in front) | goal |",
        "|---|---|---|---|",
        f"| 1 user spawn, p50 of {SEQUENTIAL} | {plain['spawn_1_p50_s']:.2f} s | {tls['spawn_1_p50_s']:.2f} s "
        f"({spawn_ratio:.2f}x) | ≤ 1.1x |",
        f"| failed spawns | {len(plain['failed_spawns'])} | {len(tls['failed_spawns'])} | 0 |",
        f"| requests to running notebooks failed during {RELOADS} hub reloads | {plain['reload_failed']} of "
        f"{plain['reload_requests']} | {tls['reload_failed']} of {tls['reload_requests']} | 0 |",
        f"| hub downtime per reload | {runs(plain['reload_hub_downtime_s'])} s | {runs(tls['reload_hub_downtime_s'])} s | |",
        f"| terminator memory, after the runs | | {tls['terminator_mem_mib']:.1f} MiB | |",
        "",
        f"Spawns (s): plain {runs(plain['spawn_1_s'])}; HTTPS {runs(tls['spawn_1_s'])}.",
        "",
    ]
    (RESULTS_DIR / "tls.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
