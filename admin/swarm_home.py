"""Where a user's home is, in Swarm mode with sticky homes; move it to another node, or release its pin.

    python -m admin.swarm_home --stack prod --user ada                  # the node ada's home is on
    python -m admin.swarm_home --stack prod --user ada --move-to node-3 # copy it there and pin it there
    python -m admin.swarm_home --stack prod --user ada --release        # next start on any node

Run against the manager (the stack's `docker:host`), with the user's server stopped.
A move copies the home volume from its node to the other over an internal overlay
network of its own (two one-off services of the notebook image running admin/home_copy.py,
`tar` as root, owners kept), and refuses a target node that already holds a non-empty
home of that user. The user must not start their server during the move (checked when
the copy is done, not while it runs). The old volume
stays where it was until you remove it. Changing the pin stops the hub for a few seconds
(it keeps the spawner's state in memory): running notebooks are not interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.networks import Network
from docker.models.services import Service
from docker.types import EndpointSpec, LogConfig, Mount, RestartPolicy, ServiceMode

from admin.home_copy import HOME_NOT_EMPTY
from admin.hub_database import escaped_user
from admin.spawner_state import RELEASE
from admin.stack import command_line, open_stack, printable
from components.config import StackConfig
from components.names import HUB_DATA_DIR
from components.swarm import SwarmNode, satisfies, swarm_node

DATABASE = f"{HUB_DATA_DIR}/jupyterhub.sqlite"  # hub_config/jupyterhub_config.py
STATE_SCRIPT = Path(__file__).with_name("spawner_state.py")
COPY_PORT = 7000
COPY_TIMEOUT_S = 3600
HUB_STOP_TIMEOUT_S = 30
NETWORK_RELEASE_WAIT_S = 60
HUB_HEALTHY_WAIT_S = 90
TASK_POLL_S = 0.5
TASK_START_WAIT_S = 300  # a pull of the image, if the node lacks it
TASK_ENDED = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}
TASK_UNDER_WAY = {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"}
ROOT = "0:0"  # tar keeps every file's owner only as root
# Each one-off runs Python isolated (no environment, no user site, not the working directory on the
# path) from `/`: the hub's data folder is writable by the hub, and a module planted there must not run.
PYTHON = ["python3", "-I"]
WORKDIR = "/"
SEND_CAPABILITIES = ["CAP_DAC_READ_SEARCH"]  # read every file
RECEIVE_CAPABILITIES = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID"]  # write them back as they were
COPY_SCRIPTS = Path(__file__).with_name("home_copy.py")


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
    if not old.active:
        raise HomeError(
            f"the home's node {source} takes no new tasks (paused or drained), and the copy runs one there. Fix: docker "
            f"node update --availability active {source} for the copy (pause it again afterwards)"
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
        try:
            output = self.client.containers.run(
                hub.image.id,
                [*PYTHON, "-c", STATE_SCRIPT.read_text(), DATABASE, user, *([change] if change else [])],
                user=hub.attrs["Config"]["User"] or ROOT,
                working_dir=WORKDIR,
                cap_drop=["ALL"],  # the database is the hub user's own file
                security_opt=["no-new-privileges"],
                mounts=[Mount(HUB_DATA_DIR, self.names.hub_data_volume, type="volume", read_only=change is None)],
                network_disabled=True,
                log_config=LogConfig(type="json-file"),  # what docker-py reads the output from
                remove=True,
            )
        except docker.errors.ContainerError as error:
            raise HomeError(_stderr(error)) from None
        return str(json.loads(output))

    def pinned_node(self, user: str) -> str:
        return self._spawner_state(user, None)

    def _set_pin(self, user: str, change: str) -> None:
        """Stop the hub, change the state, start the hub (the hub reads states only when it starts)."""
        hub = self.client.containers.get(self.names.hub_container)
        hub.stop(timeout=HUB_STOP_TIMEOUT_S)
        try:
            self._stopped(user)  # not started while the home was copied
            self._spawner_state(user, change)
        finally:
            hub.start()
        self._wait_until_healthy(hub.id)

    def _wait_until_healthy(self, hub_id: str) -> None:
        deadline = time.monotonic() + HUB_HEALTHY_WAIT_S
        while time.monotonic() < deadline:
            if (self.client.containers.get(hub_id).attrs["State"].get("Health") or {}).get("Status") == "healthy":
                return
            time.sleep(1)
        raise HomeError(
            f"the hub is not healthy {HUB_HEALTHY_WAIT_S}s after its start. Fix: see docker logs {self.names.hub_container}"
        )

    # --- moving the volume -----------------------------------------------
    def _stopped(self, user: str) -> None:
        """Refused while the user's server runs or starts. A service left by a server that ended
        (e.g. its node went down: the hub polled it ended and never called stop) is removed, as
        the hub's next start of the server would."""
        name = self.names.user_server(escaped_user(user))
        for service in self.client.services.list(filters={"name": name}):
            if service.name != name:
                continue
            if any(t["DesiredState"] == "running" and t["Status"]["State"] in TASK_UNDER_WAY for t in service.tasks()):
                raise HomeError(
                    f"{user}'s server is running (service {name}). Fix: stop it (hub admin page), then run this again"
                )
            service.remove()

    def _copy_service(self, role: str, user: str, node: str, network: str, args: list[str]) -> Service:
        home = self.names.home_volume(escaped_user(user))
        image = self.client.services.get(self.names.pre_pull_service("default")).attrs["Spec"]["TaskTemplate"]
        sending = role == "from"
        return self.client.services.create(
            image["ContainerSpec"]["Image"],
            [*PYTHON, "-c", COPY_SCRIPTS.read_text(), "send" if sending else "receive", f"/home/{role}", *args],
            name=self._copy_service_name(role, user),
            user=ROOT,
            workdir=WORKDIR,
            cap_drop=["ALL"],
            cap_add=SEND_CAPABILITIES if sending else RECEIVE_CAPABILITIES,
            mounts=[Mount(f"/home/{role}", home, type="volume", read_only=sending, labels=self.names.labels)],
            networks=[network],
            constraints=[f"node.hostname=={node}"],
            restart_policy=RestartPolicy(condition="none"),
            endpoint_spec=EndpointSpec(mode="dnsrr"),
            mode=ServiceMode("replicated", 1),
            log_driver="json-file",  # what the error report reads, whatever the nodes' default
            labels=self.names.labels,
        )

    def _copy_service_name(self, role: str, user: str) -> str:
        return f"{self.names.deployment}-{role}-{escaped_user(user)}"

    def _copy_network_name(self, user: str) -> str:
        return f"{self.names.deployment}-move-{escaped_user(user)}"

    def _remove_leftovers(self, user: str) -> None:
        """What a copy interrupted by a kill left: its services, then its network."""
        for role in ("from", "to"):
            name = self._copy_service_name(role, user)
            for service in self.client.services.list(filters={"name": name}):
                if service.name == name:
                    service.remove()
        for network in self.client.networks.list(names=[self._copy_network_name(user)]):
            _remove_when_unused(network)

    def _copy(self, user: str, source: str, target: str) -> None:
        """Over an internal overlay network of the copy's own: users' servers, on the deployment's
        network, cannot reach the sender (which hands the home to whoever connects first)."""
        self._remove_leftovers(user)
        network = self.client.networks.create(
            self._copy_network_name(user), driver="overlay", internal=True, labels=self.names.labels
        )
        volume = self.names.home_volume(escaped_user(user))
        partial = f"The pin is unchanged; the partial copy on {target} must go before a new try: docker volume rm {volume} there"
        try:
            sender = self._copy_service("from", user, source, network.id, [str(COPY_PORT)])
            sending = _task_reached(sender, {"running"}, TASK_START_WAIT_S)
            if sending["Status"]["State"] != "running":
                raise HomeError(f"the copy's sender on {source} did not start: {sending['Status']}: {_logs(sender)}")
            receiver = self._copy_service("to", user, target, network.id, [sender.name, str(COPY_PORT)])
            received = _task_reached(receiver, set(), COPY_TIMEOUT_S)
            if received["Status"].get("ContainerStatus", {}).get("ExitCode") == HOME_NOT_EMPTY:
                raise HomeError(
                    f"{target} already holds a home volume {volume} with files, left alone. Fix: check it; remove it "
                    "there (docker volume rm) and run this again, or --release the pin"
                )
            if received["Status"]["State"] != "complete":
                raise HomeError(f"receiving on {target} failed ({received['Status'].get('Err')}): {_logs(receiver)}. {partial}")
            sent = _task_reached(sender, set(), TASK_START_WAIT_S)
            if sent["Status"]["State"] != "complete":
                raise HomeError(f"sending from {source} failed ({sent['Status'].get('Err')}): {_logs(sender)}. {partial}")
        finally:
            self._remove_leftovers(user)

    # --- the commands ----------------------------------------------------
    def move(self, user: str, target: str) -> list[str]:
        self._stopped(user)
        source = self.pinned_node(user)
        if not source:
            raise HomeError(f"{user}'s home is not pinned to a node yet (their server never ran): nothing to move")
        nodes = [swarm_node(node.attrs) for node in self.client.nodes.list()]
        check_target(nodes, target, source, self.config.cluster.server_placement)
        started, volume = time.monotonic(), self.names.home_volume(escaped_user(user))
        self._copy(user, source, target)
        copy_seconds = time.monotonic() - started
        self._set_pin(user, target)
        return moved_report(user, volume, source, target, copy_seconds, self.names.hub_container)

    def release(self, user: str) -> list[str]:
        self._stopped(user)
        source = self.pinned_node(user)
        if source:
            self._set_pin(user, RELEASE)
        return released_report(user, source, self.names.hub_container)


def pinned_report(user: str, node: str) -> list[str]:
    """Where the user's home is: its node, or none yet."""
    return [f"{user}'s home: {node or 'not pinned to a node'}"]


def moved_report(user: str, volume: str, source: str, target: str, copy_seconds: float, hub: str) -> list[str]:
    """What a move that went through did, in order: the copy, the hub stopped and started to change the pin."""
    return [
        f"copied {volume} from {source} to {target} in {copy_seconds:.1f}s",
        f"stopped {hub}",
        f"started {hub}",
        f"{user}'s home is on {target}; the old copy stays on {source} (docker volume rm there once checked)",
    ]


def released_report(user: str, source: str, hub: str) -> list[str]:
    """What a release did: nothing without a pin (source ""); else the hub stopped and started to remove it."""
    if not source:
        return [f"{user}'s home is not pinned to a node: nothing to release"]
    return [
        f"stopped {hub}",
        f"started {hub}",
        f"{user}'s next server starts on any node, with that node's home (the one on {source} is not copied)",
    ]


def printed(line: str) -> str:
    """A report or error line as the command prints it."""
    return f"swarm_home: {printable(line)}"


def _task_reached(service: Service, states: set[str], timeout_s: float) -> dict[str, Any]:
    """The service's one task once it is in one of `states` or has ended; refused at once if no node can take it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tasks = service.tasks()
        if tasks and tasks[0]["Status"]["State"] in states | TASK_ENDED:
            return dict(tasks[0])
        if tasks and "no suitable node" in tasks[0]["Status"].get("Err", ""):
            raise HomeError(f"{service.name} cannot run: {tasks[0]['Status']['Err']}")
        time.sleep(TASK_POLL_S)
    raise HomeError(f"{service.name} did not get there within {timeout_s:.0f}s (docker service ps {service.name})")


def _remove_when_unused(network: Network) -> None:
    """A removed service's tasks leave the network within seconds; until then it is in use."""
    deadline = time.monotonic() + NETWORK_RELEASE_WAIT_S
    while True:
        try:
            network.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if time.monotonic() > deadline:
                raise HomeError(f"network {network.name} is still in use. Fix: docker network rm {network.name}") from None
            time.sleep(TASK_POLL_S)


def _logs(service: Service) -> str:
    return b"".join(service.logs(stdout=True, stderr=True)).decode(errors="replace").strip()[-800:]


def _stderr(error: docker.errors.ContainerError) -> str:
    stderr = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else str(error.stderr)
    return stderr.strip().splitlines()[-1] if stderr.strip() else str(error)


def parser() -> argparse.ArgumentParser:
    parser = command_line("admin.swarm_home", __doc__ or "")
    parser.add_argument("--user", required=True, help="the JupyterHub user name")
    change = parser.add_mutually_exclusive_group()
    change.add_argument("--move-to", metavar="NODE", help="copy the home to this node (its hostname) and pin it there")
    change.add_argument("--release", action="store_true", help="remove the pin: the next start may go to any node")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config, client = open_stack(args, "swarm_home", timeout_s=COPY_TIMEOUT_S)
    try:
        homes = SwarmHomes(client, config)
        if args.move_to:
            report = homes.move(args.user, args.move_to)
        elif args.release:
            report = homes.release(args.user)
        else:
            report = pinned_report(args.user, homes.pinned_node(args.user))
    except HomeError as error:
        print(printed(str(error)), file=sys.stderr)
        return 2
    except docker.errors.DockerException as error:
        fix = "Fix what it names, then run this again (it first removes what an interrupted copy left)"
        print(f"swarm_home: the manager's engine answered: {printable(str(error))}. {fix}", file=sys.stderr)
        return 2
    for line in report:
        print(printed(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
