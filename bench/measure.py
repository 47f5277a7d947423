"""The measurements made on each arrangement: memory, spawns of 1, 10 and 50, a reload under load."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

import docker
import requests

from bench.resources import mem_mib
from bench.users import Spawn, admin_signed_up, spawn, spawn_at_once, stop_all, user_containers, user_names, users_created
from testkit.endpoints import wait_until
from testkit.hub_user import HubUser
from testkit.probe import Probe

HUB_WAIT_S = 120
SETTLE_S = 5  # let a started server go idle before its memory is read
PROBED_NOTEBOOKS = 3
PROBE_BEFORE_S = 1.0
PROBE_AFTER_S = 2.0


@dataclass
class Arrangement:
    name: str  # "ours" or "baseline"
    deployment: str  # DockerSpawner's label value on its user containers
    base_url: str
    hub_container: str
    proxy_container: str
    user_server_template: str  # the user containers' name, with {username}
    reload: Callable[[], float]  # applies a hub config edit; seconds the apply took


@dataclass
class Timeline:
    label: str
    points: list[tuple[float, bool]]  # (seconds since the probes started, answered 200)


@dataclass
class ReloadResult:
    failed: int
    total: int
    hub_downtime_s: float
    hub_failed: int
    apply_s: float
    apply_window: tuple[float, float]
    timelines: list[Timeline]


@dataclass
class ArrangementResult:
    spawn1: list[Spawn] = field(default_factory=list)
    spawn10: list[Spawn] = field(default_factory=list)
    spawn50: list[Spawn] = field(default_factory=list)
    mem: dict[str, float | None] = field(default_factory=dict)
    reloads: list[ReloadResult] = field(default_factory=list)

    @property
    def typical_reload(self) -> ReloadResult | None:
        """The reload with the median hub downtime (the one plotted)."""
        ordered = sorted(self.reloads, key=lambda r: r.hub_downtime_s)
        return ordered[(len(ordered) - 1) // 2] if ordered else None

    stop_all_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    spawn1_runs: int = 5
    concurrent: tuple[int, int] = (10, 50)
    reloads: int = 5
    spawn_timeout_s: float = 300.0


def _hub_answers(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/hub/api/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait_for_hub(base_url: str) -> None:
    wait_until(lambda: _hub_answers(base_url), HUB_WAIT_S, 0.1, f"hub API at {base_url}")


def log(arrangement: Arrangement, message: str) -> None:
    print(f"bench [{arrangement.name}] {message}", flush=True)


def measure(arrangement: Arrangement, client: docker.DockerClient, plan: Plan) -> ArrangementResult:
    result = ArrangementResult()
    wait_for_hub(arrangement.base_url)
    admin = admin_signed_up(arrangement.base_url)
    users = users_created(admin, user_names(max(plan.concurrent)))
    result.mem["hub_idle"] = mem_mib(client, arrangement.hub_container)
    result.mem["proxy_idle"] = mem_mib(client, arrangement.proxy_container)

    def stop(count: int, key: str) -> None:
        result.stop_all_s[key] = stop_all(admin, users[:count], client, arrangement.deployment)

    for run in range(plan.spawn1_runs):
        result.spawn1.append(spawn(users[0], plan.spawn_timeout_s))
        log(arrangement, f"1 user, run {run + 1}: {result.spawn1[-1].seconds:.2f}s {result.spawn1[-1].detail}")
        if run == plan.spawn1_runs - 1:
            time.sleep(SETTLE_S)
            result.mem["notebook_idle"] = mem_mib(client, arrangement.user_server_template.format(username=users[0].name))
        stop(1, "1")
    small, large = plan.concurrent
    result.spawn10 = spawn_at_once(users[:small], plan.spawn_timeout_s)
    log(arrangement, f"{small} at once: {_summary(result.spawn10)}")
    stop(small, str(small))
    result.spawn50 = spawn_at_once(users[:large], plan.spawn_timeout_s)
    log(arrangement, f"{large} at once: {_summary(result.spawn50)}")
    time.sleep(SETTLE_S)
    result.mem["hub_50"] = mem_mib(client, arrangement.hub_container)
    result.mem["proxy_50"] = mem_mib(client, arrangement.proxy_container)
    running = [u for u, s in zip(users, result.spawn50, strict=True) if s.ok][:PROBED_NOTEBOOKS]
    for _ in range(plan.reloads):
        reload = reload_under_load(arrangement, running, len(user_containers(client, arrangement.deployment)))
        result.reloads.append(reload)
        log(arrangement, f"reload: {reload.failed}/{reload.total} failed, hub down {reload.hub_downtime_s:.2f}s")
    stop(large, str(large))
    return result


def _summary(spawns: list[Spawn]) -> str:
    ok = sorted(s.seconds for s in spawns if s.ok)
    failures = {s.detail for s in spawns if not s.ok}
    worst = f"{ok[-1]:.1f}s" if ok else "-"
    return f"{len(ok)}/{len(spawns)} ok, slowest {worst}" + (f", failures: {sorted(failures)[:3]}" if failures else "")


def reload_under_load(arrangement: Arrangement, running: list[HubUser], servers_running: int) -> ReloadResult:
    """Replace the hub (a config edit) while running notebooks and the hub API are polled every 50 ms."""
    notebooks = {
        user.name: Probe(f"{arrangement.base_url}/user/{user.name}/api/status", headers={"Authorization": f"token {user.token}"})
        for user in running
    }
    hub = Probe(f"{arrangement.base_url}/hub/api/")
    log(arrangement, f"reloading with {servers_running} servers running, probing {sorted(notebooks)} and the hub API")
    with ExitStack() as probes:
        started = time.monotonic()
        for probe in [*notebooks.values(), hub]:
            probes.enter_context(probe)
        time.sleep(PROBE_BEFORE_S)
        apply_from = time.monotonic() - started
        apply_s = arrangement.reload()
        apply_to = time.monotonic() - started
        wait_for_hub(arrangement.base_url)
        time.sleep(PROBE_AFTER_S)
    timelines = [Timeline(f"notebook {name}", [(o.at_s, o.ok) for o in p.outcomes]) for name, p in notebooks.items()]
    timelines.append(Timeline("hub API", [(o.at_s, o.ok) for o in hub.outcomes]))
    return ReloadResult(
        failed=sum(len(p.failed) for p in notebooks.values()),
        total=sum(len(p.outcomes) for p in notebooks.values()),
        hub_downtime_s=hub.longest_outage_s(),
        hub_failed=len(hub.failed),
        apply_s=apply_s,
        apply_window=(apply_from, apply_to),
        timelines=timelines,
    )
