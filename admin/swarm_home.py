"""Where a user's home is, in Swarm mode with sticky homes; move it to another node, or release its pin.

    python -m admin.swarm_home --stack prod --user ada                  # the node ada's home is on
    python -m admin.swarm_home --stack prod --user ada --move-to node-3 # copy it there and pin it there
    python -m admin.swarm_home --stack prod --user ada --release        # next start on any node

Run against the manager (the stack's `docker:host`), with the user's server stopped.
A move copies the home volume from its node to the other over the deployment's overlay
network (two one-off services of the notebook image, `tar` as root, owners kept), and
refuses a target node that already holds a non-empty home of that user. The old volume
stays where it was until you remove it. Changing the pin stops the hub for a few seconds
(it keeps the spawner's state in memory): running notebooks are not interrupted.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.services import Service
from docker.types import EndpointSpec, LogConfig, Mount, RestartPolicy, ServiceMode

from admin.hub_database import escaped_user
from admin.spawner_state import RELEASE
from admin.stack import command_line, open_stack
from components.config import StackConfig
from components.names import HUB_DATA_DIR
from components.swarm import SwarmNode, satisfies, swarm_node

DATABASE = f"{HUB_DATA_DIR}/jupyterhub.sqlite"  # hub_config/jupyterhub_config.py
STATE_SCRIPT = Path(__file__).with_name("spawner_state.py")
COPY_PORT = 7000
COPY_TIMEOUT_S = 3600
CONNECT_TIMEOUT_S = 120
HUB_STOP_TIMEOUT_S = 30
HUB_HEALTHY_WAIT_S = 90
TASK_POLL_S = 0.5
TASK_ENDED = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}
ROOT = "0:0"  # tar keeps every file's owner only as root

# The copy's two ends, run with python3 of the notebook image. The sender serves one
# connection; the receiver refuses a home that already has files (exit 3).
SEND = f"""
import socket, subprocess, sys
server = socket.create_server(("", {COPY_PORT}))
server.settimeout({CONNECT_TIMEOUT_S})
connection, _ = server.accept()
sys.exit(subprocess.run(["tar", "-C", "/home/from", "--numeric-owner", "-c", "."], stdout=connection.fileno()).returncode)
"""
RECEIVE = f"""
import os, socket, subprocess, sys, time
if os.listdir("/home/to"):
    sys.exit("the home volume on this node already has files")
deadline = time.monotonic() + {CONNECT_TIMEOUT_S}
while True:
    try:
        connection = socket.create_connection((sys.argv[1], {COPY_PORT}), timeout=10)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
connection.settimeout(None)
sys.exit(subprocess.run(["tar", "-C", "/home/to", "--numeric-owner", "-p", "-x"], stdin=connection.fileno()).returncode)
"""


class HomeError(Exception):
    """The home cannot be moved or released as asked; the message says why and what to do."""


def check_target(nodes: Sequence[SwarmNode], target: str, source: str, constraints: Sequence[str]) -> None:
    """The target must be another ready, active node that may run users' servers; the source must be up to copy from."""
    by_name = {node.hostname: node for node in nodes}
    node = by_name.get(target)
    if node is None:
        raise HomeError(f"no node {target!r} in the swarm (nodes: {', '.join(sorted(by_name))})")
    if target == source:
        raise HomeError(f"the home is already on {target}")
    if not (node.ready and node.active and satisfies(node, constraints)):
        raise HomeError(
            f"{target} may not run users' servers now (ready: {node.ready}, active: {node.active}, cluster.userPlacement "
            f"{list(constraints)!r}). Fix: choose another node, or make it available (docker node update --availability active)"
        )
    old = by_name.get(source)
    if old is None or not old.ready:
        raise HomeError(
            f"the home's node {source} is {'not in the swarm' if old is None else 'down'}: nothing can be copied from it. "
            "Fix: bring it back, or --release the pin (the user starts with an empty home elsewhere)"
        )


class SwarmHomes:
    def __init__(self, client: docker.DockerClient, config: StackConfig) -> None:
        if config.cluster.mode != "swarm" or config.cluster.homes != "sticky":
            raise HomeError(
                "homes are pinned to nodes only with cluster.mode swarm and cluster.homes sticky "
                f"(this stack: {config.cluster.mode}, {config.cluster.homes})"
            )
        self.client, self.config, self.names = client, config, config.names

    # --- the pin, in the hub's database ---------------------------------
    def _spawner_state(self, user: str, change: str | None) -> str:
        hub = self.client.containers.get(self.names.hub_container)
        output = self.client.containers.run(
            hub.image.id,
            ["python3", "-c", STATE_SCRIPT.read_text(), DATABASE, user, *([change] if change else [])],
            user=hub.attrs["Config"]["User"] or ROOT,
            mounts=[Mount(HUB_DATA_DIR, self.names.hub_data_volume, type="volume", read_only=change is None)],
            network_disabled=True,
            log_config=LogConfig(type="json-file"),  # what docker-py reads the output from
            remove=True,
        )
        return str(json.loads(output))

    def pinned_node(self, user: str) -> str:
        try:
            return self._spawner_state(user, None)
        except docker.errors.ContainerError as error:
            raise HomeError(_stderr(error)) from None

    def _set_pin(self, user: str, change: str) -> list[str]:
        """Stop the hub, change the state, start the hub (the hub reads states only when it starts)."""
        hub = self.client.containers.get(self.names.hub_container)
        hub.stop(timeout=HUB_STOP_TIMEOUT_S)
        report = [f"stopped {hub.name}"]
        try:
            self._spawner_state(user, change)
        except docker.errors.ContainerError as error:
            raise HomeError(_stderr(error)) from None
        finally:
            hub.start()
            report.append(f"started {hub.name}: {self._hub_health(hub.id)}")
        return report

    def _hub_health(self, hub_id: str) -> str:
        deadline = time.monotonic() + HUB_HEALTHY_WAIT_S
        status = ""
        while time.monotonic() < deadline:
            state = self.client.containers.get(hub_id).attrs["State"]
            status = (state.get("Health") or {}).get("Status", state["Status"])
            if status in ("healthy", "running"):
                break
            time.sleep(1)
        return status

    # --- moving the volume -----------------------------------------------
    def _stopped(self, user: str) -> None:
        name = self.names.user_server(escaped_user(user))
        if any(service.name == name for service in self.client.services.list(filters={"name": name})):
            raise HomeError(f"{user}'s server is running (service {name}). Fix: stop it (hub admin page), then run this again")

    def _copy_service(self, role: str, user: str, node: str, script: str, args: list[str], read_only: bool) -> Service:
        home = self.names.home_volume(escaped_user(user))
        image = self.client.services.get(self.names.pre_pull_service("default")).attrs["Spec"]["TaskTemplate"]
        return self.client.services.create(
            image["ContainerSpec"]["Image"],
            ["python3", "-c", script, *args],
            name=f"{self.names.deployment}-home-{role}-{escaped_user(user)}",
            user=ROOT,
            mounts=[Mount(f"/home/{role}", home, type="volume", read_only=read_only, labels=self.names.labels)],
            networks=[self.names.network],
            constraints=[f"node.hostname=={node}"],
            restart_policy=RestartPolicy(condition="none"),
            endpoint_spec=EndpointSpec(mode="dnsrr"),
            mode=ServiceMode("replicated", 1),
            labels=self.names.labels,
        )

    def _copy(self, user: str, source: str, target: str) -> None:
        sender = self._copy_service("from", user, source, SEND, [], read_only=True)
        try:
            receiver = self._copy_service("to", user, target, RECEIVE, [sender.name], read_only=False)
            try:
                status = _task_end(receiver, COPY_TIMEOUT_S)["Status"]
                if status["State"] != "complete":
                    logs = b"".join(receiver.logs(stdout=True, stderr=True)).decode(errors="replace").strip()
                    raise HomeError(f"copying to {target} failed ({status.get('Err', status['State'])}): {logs[-800:]}")
            finally:
                receiver.remove()
        finally:
            sender.remove()

    # --- the commands ----------------------------------------------------
    def move(self, user: str, target: str) -> list[str]:
        self._stopped(user)
        source = self.pinned_node(user)
        if not source:
            raise HomeError(f"{user}'s home is not pinned to a node yet (their server never ran): nothing to move")
        nodes = [swarm_node(node.attrs) for node in self.client.nodes.list()]
        check_target(nodes, target, source, self.config.cluster.user_placement)
        started, volume = time.monotonic(), self.names.home_volume(escaped_user(user))
        self._copy(user, source, target)
        report = [f"copied {volume} from {source} to {target} in {time.monotonic() - started:.1f}s"]
        report += self._set_pin(user, target)
        return [*report, f"{user}'s home is on {target}; the old copy stays on {source} (docker volume rm there once checked)"]

    def release(self, user: str) -> list[str]:
        self._stopped(user)
        source = self.pinned_node(user)
        if not source:
            return [f"{user}'s home is not pinned to a node: nothing to release"]
        report = self._set_pin(user, RELEASE)
        return [*report, f"{user}'s next server starts on any node, with that node's home (the one on {source} is not copied)"]


def _task_end(service: Service, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tasks = service.tasks()
        if tasks and tasks[0]["Status"]["State"] in TASK_ENDED:
            return dict(tasks[0])
        if tasks and "no suitable node" in tasks[0]["Status"].get("Err", ""):
            raise HomeError(f"{service.name} cannot run: {tasks[0]['Status']['Err']}")
        time.sleep(TASK_POLL_S)
    raise HomeError(f"{service.name} did not end within {timeout_s:.0f}s (docker service ps {service.name})")


def _stderr(error: docker.errors.ContainerError) -> str:
    stderr = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else str(error.stderr)
    return stderr.strip().splitlines()[-1] if stderr.strip() else str(error)


def main(argv: list[str] | None = None) -> int:
    parser = command_line("admin.swarm_home", __doc__ or "")
    parser.add_argument("--user", required=True, help="the JupyterHub user name")
    change = parser.add_mutually_exclusive_group()
    change.add_argument("--move-to", metavar="NODE", help="copy the home to this node (its hostname) and pin it there")
    change.add_argument("--release", action="store_true", help="remove the pin: the next start may go to any node")
    args = parser.parse_args(argv)
    config, client = open_stack(args, "swarm_home", timeout_s=COPY_TIMEOUT_S)
    try:
        homes = SwarmHomes(client, config)
        if args.move_to:
            report = homes.move(args.user, args.move_to)
        elif args.release:
            report = homes.release(args.user)
        else:
            report = [f"{args.user}'s home: {homes.pinned_node(args.user) or 'not pinned to a node'}"]
    except HomeError as error:
        print(f"swarm_home: {error}", file=sys.stderr)
        return 2
    for line in report:
        print(f"swarm_home: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
