"""DockerSpawner, SystemUserSpawner and SwarmSpawner, faster to report a started server
and to re-check running ones when the hub restarts; SwarmSpawner also with homes that
are volumes, pinned to their node, and a prompt answer when no node can take a server.

JupyterHub's own readiness check after Spawner.start() retries with random waits of
up to 0.2, 0.4, 0.8, 1.6 and 3.2 s (not configurable), which made a 1.6 s server
start a 3.5 s spawn. Polling the port every 50 ms inside start() lets that check
pass on its first try.

A restarting hub polls every running server at once before its API answers;
DockerSpawner inspects their containers one by one on its single Docker thread.
Polls made in the same event-loop turn here share one listing instead (of running
containers, or of running Swarm tasks).

Installed into the hub image (see Dockerfile), so jupyterhub_config.py names these
classes by import path and imports nothing.
"""

import asyncio
import socket
import time
from pprint import pformat
from typing import Any, ClassVar

import profiles as server_profiles
from docker.types import ContainerSpec, DriverConfig, EndpointSpec, Mount, Placement, Resources, RestartPolicy, TaskTemplate
from dockerspawner import DockerSpawner, SwarmSpawner, SystemUserSpawner
from tornado import web
from traitlets import Bool, Dict, HasTraits, Int, List, Unicode, default

NAMED_SERVER_SEPARATOR = "--"  # docker_api_proxy/policy.py reads names by it
PORT_POLL_S = 0.05
TASK_POLL_S = 0.1
# Swarm task states before "running" (api/types/swarm/task.go), and those that end a task.
TASK_STARTING = {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
UNSCHEDULABLE = "no suitable node"  # the scheduler's Status.Err for a task no node can take
GPU_DRIVER, GPU_CAPABILITIES = "nvidia", [["gpu"]]  # docker --gpus; the Docker API filter allows only this request
NO_GPU_DRIVER = "could not select device driver"  # the engine's error starting one without the NVIDIA runtime


class _PollBatch:
    """The polls that joined in one event-loop turn, and the listing that answers them."""

    def __init__(self) -> None:
        self.size = 1
        self.listed = asyncio.Event()
        self.running: dict[str, str] | None = None  # container name -> id


class ProfilesMixin(HasTraits):
    """spawner.profiles: the spawn form lists the profiles the user's groups may use, and a
    start gets the one it names (form or REST API) only if the user may use it.
    spawner.sharedVolumes: a start mounts the shared volumes the user's groups have now."""

    profiles = List(Dict(), config=True, help="The server profiles (components/user_servers.py ServerProfile)")
    shared_volumes = List(Dict(), config=True, help="The shared volumes (components/user_servers.py SharedMount)")
    volumes: dict[str, Any]
    user: Any
    orm_spawner: Any
    profile_placement: tuple[str, ...]  # swarm: HomeVolumeSwarmSpawner places the server by it
    profile: server_profiles.Profile  # the one the last start got
    image: str
    mem_limit: int
    cpu_limit: float

    def _groups(self) -> set[str]:
        return {group.name for group in self.user.groups}

    def _profiles(self) -> list[server_profiles.Profile]:
        return [server_profiles.Profile.from_traits(traits) for traits in self.profiles]

    async def get_options_form(self) -> str:
        return server_profiles.spawn_form(server_profiles.usable(self._profiles(), self._groups()))

    def run_options_from_form(self, form_data: dict[str, list[str]]) -> dict[str, str]:
        return server_profiles.options_from_form(form_data)

    def apply_profile(self, user_options: dict[str, Any]) -> None:
        """JupyterHub's apply_user_options hook (5.3+): runs before every start; its HTTPError is what the user sees.
        Group membership is read at each start: a user who left a group loses its profiles and volumes then."""
        try:
            profile = server_profiles.chosen(self._profiles(), self._groups(), user_options or {})
        except server_profiles.ProfileError as refused:
            # JupyterHub keeps a start's options for the next start without any: a refused profile would be
            # asked for again at every plain start (with one profile open to the user, no form offers another).
            self.orm_spawner.user_options = {}  # committed when JupyterHub stops the failed server
            raise web.HTTPError(refused.status, str(refused)) from None
        self.image, self.mem_limit, self.cpu_limit = profile.image, profile.mem_limit, profile.cpu_limit
        self.profile_placement = profile.placement
        self.profile = profile
        shared = [server_profiles.SharedVolume.from_traits(traits) for traits in self.shared_volumes]
        own = {name: bind for name, bind in self.volumes.items() if name not in {volume.volume for volume in shared}}
        self.volumes = own | server_profiles.shared_binds(shared, self._groups())

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return type(self).apply_profile


class GpuMixin(ProfilesMixin):
    """A profile's NVIDIA GPUs (spawner.gpuDevices): a count takes GPUs no running server holds (the hub
    keeps who holds which, in each server's state, and learns it again from the states when it restarts);
    gpuIds are given as they are. A host that cannot give containers GPUs fails the start with its name."""

    gpu_host = Unicode("", config=True, help="The Docker host's name, for the message when it has no NVIDIA runtime")
    extra_host_config: dict[str, Any]
    gpu_ids: tuple[str, ...] = ()
    _held: ClassVar[dict[int, tuple[str, ...]]] = {}  # id(spawner) -> the GPUs its running server holds

    def _hold(self, gpu_ids: tuple[str, ...]) -> None:
        self.gpu_ids = gpu_ids
        if gpu_ids:
            GpuMixin._held[id(self)] = gpu_ids
        else:
            GpuMixin._held.pop(id(self), None)

    def apply_profile(self, user_options: dict[str, Any]) -> None:
        super().apply_profile(user_options)
        in_use = [gpu for holder, gpus in GpuMixin._held.items() if holder != id(self) for gpu in gpus]
        try:
            gpu_ids = server_profiles.free_gpus(self.profile, in_use)
        except server_profiles.ProfileError as busy:
            raise web.HTTPError(busy.status, str(busy)) from None
        self._hold(gpu_ids)
        host_config = {key: value for key, value in self.extra_host_config.items() if key != "device_requests"}
        if gpu_ids:
            host_config["device_requests"] = [
                {"driver": GPU_DRIVER, "device_ids": list(gpu_ids), "capabilities": GPU_CAPABILITIES}
            ]
        self.extra_host_config = host_config

    async def start(self):  # type: ignore[no-untyped-def]
        try:
            return await super().start()  # type: ignore[misc]
        except Exception as error:
            if not self.gpu_ids or NO_GPU_DRIVER not in str(error):
                raise
            # Created, never started: JupyterHub's cleanup polls it as stopped and leaves it (DockerSpawner removes on stop).
            await self.remove_object()  # type: ignore[attr-defined]
            self._hold(())
            self.orm_spawner.user_options = {}  # the next plain start is not this profile again (as a refusal)
            raise web.HTTPError(
                503,
                f"This server needs NVIDIA GPUs, and the Docker host {self.gpu_host or '(unnamed)'} cannot give them to "
                f'containers: {NO_GPU_DRIVER} "nvidia" (the NVIDIA container toolkit is missing or not set up there). '
                "Choose a profile without GPUs, or ask an administrator (docs/how-to/gpus.md).",
            ) from None

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)  # type: ignore[misc]
        self._hold(tuple(state.get("gpu_ids", ())))

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()  # type: ignore[misc]
        if self.gpu_ids:
            state["gpu_ids"] = list(self.gpu_ids)
        return state

    def clear_state(self) -> None:
        super().clear_state()  # type: ignore[misc]
        self._hold(())


class NamedServersMixin:
    """A named server's container or service is `<the default server's name>--<server>` (name_template's
    `{servername_suffix}`): escaped names never hold `--`, so the filter tells user and server apart."""

    name: str

    def template_namespace(self) -> dict[str, Any]:
        namespace: dict[str, Any] = super().template_namespace()  # type: ignore[misc]
        return {**namespace, "servername_suffix": f"{NAMED_SERVER_SEPARATOR}{namespace['servername']}" if self.name else ""}


class PromptStartMixin:
    http_timeout: int

    async def start(self):  # type: ignore[no-untyped-def]
        host, port = await super().start()  # type: ignore[misc]
        deadline = time.monotonic() + self.http_timeout
        address = None  # the container's name is looked up once, not at every poll
        while time.monotonic() < deadline:
            try:
                if address is None:
                    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
                    address = str(found[0][4][0])
                _, writer = await asyncio.open_connection(address, port)
            except OSError:
                await asyncio.sleep(PORT_POLL_S)
                continue
            writer.close()
            break
        return host, port


class BatchedPollMixin:
    object_id: str
    log: Any
    _poll_batch: _PollBatch | None = None

    _poll_key: str  # what the shared listing is keyed by
    _list_running: Any  # async () -> {key: object ID} of the running servers

    async def poll(self):  # type: ignore[no-untyped-def]
        running = await self._running_objects()
        if running is not None and self._poll_key in running:
            self.object_id = running[self._poll_key]
            return None
        # Alone in its turn (the periodic poll), or not running: the spawner's own poll
        # inspects the container (or service) and reports how it ended.
        return await super().poll()  # type: ignore[misc]

    async def _running_objects(self) -> dict[str, str] | None:
        """Running objects from one listing shared by every poll made in this
        event-loop turn; None when this poll is alone or the listing failed."""
        batch = BatchedPollMixin._poll_batch
        if batch is not None:
            batch.size += 1
            await batch.listed.wait()
            return batch.running
        batch = BatchedPollMixin._poll_batch = _PollBatch()
        await asyncio.sleep(0)  # the other polls of this turn join the batch
        BatchedPollMixin._poll_batch = None
        try:
            if batch.size > 1:
                batch.running = await self._list_running()
        except Exception:
            self.log.warning("Listing running servers failed; inspecting each instead", exc_info=True)
        finally:
            batch.listed.set()
        return batch.running


class RunningContainers:
    """The batched poll's listing for containers: running ones by name."""

    container_name: str

    @property
    def _poll_key(self) -> str:
        return self.container_name

    async def _list_running(self) -> dict[str, str]:
        listed: list[dict[str, Any]] = await self.docker("containers", filters={"status": "running"})  # type: ignore[attr-defined]
        return {name.lstrip("/"): c["Id"] for c in listed for name in c.get("Names") or []}


class RunningTasks:
    """The batched poll's listing for Swarm services: those with a running task, by service ID."""

    object_id: str

    @property
    def _poll_key(self) -> str:
        return self.object_id

    async def _list_running(self) -> dict[str, str]:
        tasks: list[dict[str, Any]] = await self.docker("tasks", filters={"desired-state": "running"})  # type: ignore[attr-defined]
        return {t["ServiceID"]: t["ServiceID"] for t in tasks if t["Status"]["State"] == "running"}


class PromptDockerSpawner(GpuMixin, NamedServersMixin, PromptStartMixin, BatchedPollMixin, RunningContainers, DockerSpawner):
    pass


class PromptSystemUserSpawner(
    GpuMixin, NamedServersMixin, PromptStartMixin, BatchedPollMixin, RunningContainers, SystemUserSpawner
):
    pass


class HomeVolumeSwarmSpawner(SwarmSpawner):
    """One Swarm service per server, its spec built here in full (what the Docker API
    filter pins): limits equal to reservations, so the scheduler places a server only
    where it fits; no restart, so a server the user stopped (or that ended) stays down;
    DNS round-robin, as one task needs no virtual IP; homes as volumes, not bind
    mounts (dockerspawner #536). With sticky homes a home is a volume on one node: the
    server's first node is kept in the spawner's state and every later start is
    constrained to it."""

    user_constraints = List(Unicode(), config=True, help="Placement constraints (cluster.userPlacement)")
    sticky_homes = Bool(True, config=True, help="Start each user's server on the node that holds their home")
    pids_limit = Int(0, config=True, help="Processes and threads per server (0: no limit)")
    log_config = Dict(config=True, help="The task's log driver: {Name, Options}")
    home_volume_labels = Dict(config=True, help="Labels of a home volume the node creates")
    home_node = ""  # the hostname of the node that holds the home volume (sticky homes)
    profile_placement: tuple[str, ...] = ()  # the started profile's constraints (ProfilesMixin sets them)
    task_address = ""  # the running task's address on the deployment's network

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.home_node = state.get("home_node", "")

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.home_node:
            state["home_node"] = self.home_node
        return state

    def clear_state(self) -> None:
        home_node = self.home_node  # outlives the server: the home stays on its node
        super().clear_state()
        self.home_node = home_node

    @property
    def mounts(self) -> list[Mount]:
        driver = None
        if self.volume_driver:
            options = {key: self.format_volume_name(value, self) for key, value in self.volume_driver_options.items()}
            driver = DriverConfig(self.volume_driver, options or None)
        return [
            Mount(
                target=volume["bind"],
                source=name,
                type="volume",
                read_only=volume["mode"] == "ro",
                driver_config=driver,
                labels=dict(self.home_volume_labels) or None,
            )
            for name, volume in self.volume_binds.items()
        ]

    @property
    def _constraints(self) -> list[str]:
        pinned = [f"node.hostname=={self.home_node}"] if self.sticky_homes and self.home_node else []
        return [*self.user_constraints, *self.profile_placement, *pinned]

    async def create_object(self) -> dict[str, Any]:
        resources = Resources(
            mem_limit=self.mem_limit,
            mem_reservation=self.mem_limit,
            cpu_limit=int(self.cpu_limit * 1e9) if self.cpu_limit else None,
            cpu_reservation=int(self.cpu_limit * 1e9) if self.cpu_limit else None,
        )
        if self.pids_limit:
            resources.setdefault("Limits", {})["Pids"] = self.pids_limit
        log_driver = DriverConfig(self.log_config["Name"], self.log_config.get("Options")) if self.log_config else None
        task = TaskTemplate(
            container_spec=ContainerSpec(image=self.image, env=self.get_env(), args=await self.get_command(), mounts=self.mounts),
            resources=resources,
            restart_policy=RestartPolicy(condition="none"),
            placement=Placement(constraints=self._constraints),
            networks=[self.network_name],
            log_driver=log_driver,
        )
        service: dict[str, Any] = await self.docker(
            "create_service",
            task_template=task,
            endpoint_spec=EndpointSpec(mode="dnsrr"),
            name=self.service_name,
            labels=self.extra_create_kwargs.get("labels"),
        )
        return service

    async def start_object(self) -> None:
        """Wait for the task to run, and refuse at once what no node can take."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            task = await self.get_task()
            if task is None:  # the manager has not made the new service's task yet, or the service is gone
                if await self.get_object() is None:
                    raise RuntimeError(f"Service {self.service_name} not found")
                await asyncio.sleep(TASK_POLL_S)
                continue
            status = task["Status"]
            state = status["State"]
            if state == "running":
                self.task_address = self._address_on_network(task)
                await self._remember_home_node(task["NodeID"])
                return
            if UNSCHEDULABLE in status.get("Err", ""):
                await self.docker("remove_service", self.object_id)
                raise RuntimeError(self._unschedulable_message(status["Err"]))
            if state not in TASK_STARTING:
                raise RuntimeError(f"Service {self.service_name} not running: {pformat(status)}")
            await asyncio.sleep(TASK_POLL_S)
        raise TimeoutError(f"Service {self.service_name} did not start within {self.start_timeout} s")

    async def poll(self) -> int | str | None:
        """Ended when the manager no longer wants the task running, whatever the task last
        reported: a task on a node that went down stays "running" (its node reports no more)."""
        task = await self.get_task()
        if task is None:
            return 0
        if task["DesiredState"] == "running" and task["Status"]["State"] in {"running", *TASK_STARTING}:
            return None
        return pformat({"DesiredState": task["DesiredState"], **task["Status"]})

    def _unschedulable_message(self, error: str) -> str:
        if self.sticky_homes and self.home_node:
            return (
                f"Your home folder is on the node {self.home_node}, which cannot run your server now ({error}): it is "
                "paused, drained, down or full. Ask an administrator to make it available again, or to move your home to "
                "another node (docs/how-to/swarm-nodes.md, Move a user's home)."
            )
        return (
            f"No node of the cluster can take your server now ({error}): every node that may run it is full, "
            "paused, drained or down. Try again later, or ask an administrator to add a node."
        )

    def _address_on_network(self, task: dict[str, Any]) -> str:
        for attachment in task.get("NetworksAttachments") or []:
            if attachment["Network"]["Spec"]["Name"] == self.network_name and attachment.get("Addresses"):
                return str(attachment["Addresses"][0]).split("/")[0]
        raise RuntimeError(f"Service {self.service_name} has no address on the network {self.network_name}")

    async def get_ip_and_port(self) -> tuple[str, int]:
        """The task's own address: a service made again under its name may resolve to its
        old task for seconds (dnsrr), and a task never moves (restart condition none)."""
        return self.task_address, self.port

    async def _remember_home_node(self, node_id: str) -> None:
        if self.sticky_homes and not self.home_node:
            node = await self.docker("inspect_node", node_id)
            self.home_node = node["Description"]["Hostname"]


class PromptSwarmSpawner(
    ProfilesMixin, NamedServersMixin, PromptStartMixin, BatchedPollMixin, RunningTasks, HomeVolumeSwarmSpawner
):
    pass
