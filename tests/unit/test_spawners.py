"""hub_config/spawners.py: a started server is reported as soon as its port answers, and
the polls of one event-loop turn share one container listing.

DockerSpawner itself is not installed here (only the hub image has it): a stand-in
module takes its place, recording what the mixins ask of it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import sys
import time
import types
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import traitlets

from testkit.program_runner import REPO_ROOT


class StandInSpawner(traitlets.HasTraits):
    """What the mixins use of DockerSpawner: start, poll, docker, and a few attributes."""

    apply_user_options = traitlets.Union(
        [traitlets.Callable(), traitlets.Dict()], default_value=None, allow_none=True
    )  # JupyterHub's
    volumes = traitlets.Dict()  # DockerSpawner's: volume name -> path or {bind, mode}
    extra_host_config = traitlets.Dict()  # DockerSpawner's: docker-py's create_host_config arguments

    listings: ClassVar[list[dict[str, Any]]] = []
    listing_calls = 0
    listing_fails = False

    def __init__(self, container_name: str, port: int = 0, http_timeout: float = 2) -> None:
        self.container_name, self.port, self.http_timeout = container_name, port, http_timeout
        self.object_id = "old-id"
        self.super_polls = 0
        self.warnings: list[tuple[str, dict[str, Any]]] = []
        self.log = types.SimpleNamespace(warning=lambda message, **kwargs: self.warnings.append((message, kwargs)))

    async def start(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    async def remove_object(self) -> None:
        self.removed = True

    def load_state(self, state: dict[str, Any]) -> None:  # JupyterHub's Spawner keeps nothing of its own here
        self.base_loaded = state

    def get_state(self) -> dict[str, Any]:
        return {}

    def clear_state(self) -> None:
        self.base_cleared = True

    async def poll(self) -> int | None:
        self.super_polls += 1
        return 0

    async def docker(self, method: str, **kwargs: Any) -> list[dict[str, Any]]:
        assert (method, kwargs) == ("containers", {"filters": {"status": "running"}})
        StandInSpawner.listing_calls += 1
        if StandInSpawner.listing_fails:
            raise RuntimeError("engine down")
        return StandInSpawner.listings


class StandInHTTPError(Exception):
    """tornado.web.HTTPError's (status, message)."""

    def __init__(self, status_code: int, log_message: str) -> None:
        super().__init__(status_code, log_message)
        self.status_code, self.log_message = status_code, log_message


@pytest.fixture
def spawners(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = types.ModuleType("dockerspawner")
    module.DockerSpawner = type("DockerSpawner", (StandInSpawner,), {})  # type: ignore[attr-defined]
    module.SystemUserSpawner = type("SystemUserSpawner", (StandInSpawner,), {})  # type: ignore[attr-defined]
    module.SwarmSpawner = type("SwarmSpawner", (StandInSpawner,), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dockerspawner", module)
    tornado, web = types.ModuleType("tornado"), types.ModuleType("tornado.web")
    web.HTTPError = StandInHTTPError  # type: ignore[attr-defined]
    tornado.web = web  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tornado", tornado)
    monkeypatch.setitem(sys.modules, "tornado.web", web)
    monkeypatch.syspath_prepend(str(REPO_ROOT / "hub_config"))  # spawners.py imports profiles.py beside it
    spec = importlib.util.spec_from_file_location("spawners_under_test", REPO_ROOT / "hub_config" / "spawners.py")
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    StandInSpawner.listings, StandInSpawner.listing_calls, StandInSpawner.listing_fails = [], 0, False
    return loaded


def test_every_spawner_has_every_behaviour(spawners: Any) -> None:
    for spawner_class, listing, base in (
        (spawners.PromptDockerSpawner, "RunningContainers", "DockerSpawner"),
        (spawners.PromptSystemUserSpawner, "RunningContainers", "SystemUserSpawner"),
        (spawners.PromptSwarmSpawner, "RunningTasks", "HomeVolumeSwarmSpawner"),
    ):
        gpus = ["GpuMixin"] if listing == "RunningContainers" else []  # one host only
        assert [c.__name__ for c in spawner_class.__mro__[: 7 + len(gpus)]] == [
            spawner_class.__name__,
            *gpus,
            "ProfilesMixin",
            "NamedServersMixin",
            "PromptStartMixin",
            "BatchedPollMixin",
            listing,
            base,
        ]
    assert spawners.PORT_POLL_S == 0.05


def test_a_named_servers_name_is_read_back_by_the_filter_as_its_users(spawners: Any) -> None:
    from tests.unit.test_named_servers import POLICY  # the filter's policy with named servers allowed

    class Namespaced(spawners.NamedServersMixin):  # over DockerSpawner's namespace of escaped names
        def __init__(self, name: str) -> None:
            self.name = name

    class Base:
        def template_namespace(self) -> dict[str, Any]:
            server = getattr(self, "name", "")
            return {"username": "a-2eb", "servername": server.replace("-", "-2d")}

    for server, expected in (("", "jupyter-jh_a-2eb"), ("gpu-x", "jupyter-jh_a-2eb--gpu-2dx")):
        namespace = type("Spawner", (Namespaced, Base), {})(server).template_namespace()
        name = "jupyter-jh_{username}{servername_suffix}".format(**namespace)
        assert (name, POLICY.user_of(name)) == (expected, "a-2eb")


PROFILES = [
    {
        "name": "small",
        "description": "for exercises",
        "image": "lab:1",
        "mem_limit": 512 * 1024**2,
        "cpu_limit": 0.5,
        "groups": [],
        "placement": [],
        "gpus": 0,
        "gpu_ids": [],
        "gpus_shared": False,
    },
    {
        "name": "large",
        "description": "",
        "image": "lab:2",
        "mem_limit": 4 * 1024**3,
        "cpu_limit": 2.0,
        "groups": ["staff"],
        "placement": ["node.labels.big == true"],
        "gpus": 0,
        "gpu_ids": [],
        "gpus_shared": False,
    },
]


def profiled(spawners: Any, groups: list[str]) -> Any:
    spawner = spawners.PromptDockerSpawner("jupyter-jh_ada")
    spawner.profiles = PROFILES
    spawner.user = types.SimpleNamespace(groups=[types.SimpleNamespace(name=group) for group in groups])
    spawner.image, spawner.mem_limit, spawner.cpu_limit = "configured:1", 1, 1.0
    spawner.orm_spawner = types.SimpleNamespace(user_options={"profile": "large"})  # what the last start asked for
    return spawner


def test_a_start_gets_the_named_profile_image_and_limits(spawners: Any) -> None:
    spawner = profiled(spawners, ["staff"])
    spawner.apply_user_options(spawner, {"profile": "large"})
    assert (spawner.image, spawner.mem_limit, spawner.cpu_limit) == ("lab:2", 4 * 1024**3, 2.0)
    spawner.apply_user_options(spawner, {})  # none named: the first the user may use
    assert (spawner.image, spawner.mem_limit, spawner.cpu_limit) == ("lab:1", 512 * 1024**2, 0.5)


def test_a_swarm_server_is_placed_by_the_deployment_then_its_profile_then_its_homes_node(spawners: Any) -> None:
    spawner = spawners.PromptSwarmSpawner("jupyter-jh_ada")
    spawner.profiles, spawner.user = PROFILES, types.SimpleNamespace(groups=[types.SimpleNamespace(name="staff")])
    spawner.user_constraints, spawner.sticky_homes, spawner.home_node = ["node.role == worker"], True, "node-2"
    spawner.apply_user_options(spawner, {"profile": "large"})
    assert spawner._constraints == ["node.role == worker", "node.labels.big == true", "node.hostname==node-2"]
    spawner.apply_user_options(spawner, {"profile": "small"})
    assert spawner._constraints == ["node.role == worker", "node.hostname==node-2"]


def test_a_profile_of_another_group_is_refused_with_403_and_changes_nothing(spawners: Any) -> None:
    spawner = profiled(spawners, ["students"])
    with pytest.raises(StandInHTTPError) as refused:
        spawner.apply_user_options(spawner, {"profile": "large"})
    assert (refused.value.status_code, refused.value.log_message) == (
        403,
        "The profile large is for members of staff, and you are in none.",
    )
    assert (spawner.image, spawner.mem_limit, spawner.cpu_limit) == ("configured:1", 1, 1.0)
    assert spawner.orm_spawner.user_options == {}  # the next start without options is not refused again


def test_an_allowed_start_keeps_the_options_jupyterhub_remembers(spawners: Any) -> None:
    spawner = profiled(spawners, ["staff"])
    spawner.apply_user_options(spawner, {"profile": "large"})
    assert spawner.orm_spawner.user_options == {"profile": "large"}


SHARED = [
    {"volume": "jh-shared-course", "path": "/home/jovyan/course", "mode": "ro", "groups": []},
    {"volume": "jh-shared-team", "path": "/srv/team", "mode": "rw", "groups": ["team", "staff"]},
]
HOME = {"jh-home-{username}": "/home/jovyan"}


def test_a_start_mounts_everyones_shared_volumes_and_its_groups_ones_and_forgets_a_group_left(spawners: Any) -> None:
    spawner = profiled(spawners, ["staff"])
    spawner.shared_volumes, spawner.volumes = SHARED, HOME
    spawner.apply_user_options(spawner, {})
    assert spawner.volumes == {
        **HOME,
        "jh-shared-course": {"bind": "/home/jovyan/course", "mode": "ro"},
        "jh-shared-team": {"bind": "/srv/team", "mode": "rw"},
    }
    spawner.user.groups = []  # left the group: the next start has the course only
    spawner.apply_user_options(spawner, {})
    assert spawner.volumes == {**HOME, "jh-shared-course": {"bind": "/home/jovyan/course", "mode": "ro"}}


def test_a_refused_start_mounts_nothing_new(spawners: Any) -> None:
    spawner = profiled(spawners, ["students"])
    spawner.shared_volumes, spawner.volumes = SHARED, HOME
    with pytest.raises(StandInHTTPError):
        spawner.apply_user_options(spawner, {"profile": "large"})
    assert spawner.volumes == HOME


GPU_PROFILES = [
    PROFILES[0],  # small, no GPU
    {**PROFILES[0], "name": "gpu", "gpus": 1, "gpu_ids": ["0", "1"]},
    {**PROFILES[0], "name": "pair", "gpus": 2, "gpu_ids": ["0", "1"]},
    {**PROFILES[0], "name": "demo", "gpus": 1, "gpu_ids": ["1"], "gpus_shared": True},
]
NVIDIA = {"driver": "nvidia", "capabilities": [["gpu"]]}


def gpu_spawner(spawners: Any, name: str) -> Any:
    spawner = profiled(spawners, [])
    spawner.container_name, spawner.profiles, spawner.gpu_host = name, GPU_PROFILES, "gpu-host-1"
    spawner.extra_host_config = {"pids_limit": 4096}
    return spawner


@pytest.fixture
def no_gpus_held(spawners: Any) -> Iterator[None]:
    spawners.GpuMixin._held.clear()
    yield
    spawners.GpuMixin._held.clear()


@pytest.mark.usefixtures("no_gpus_held")
def test_each_running_server_gets_gpus_no_other_holds_and_a_start_with_none_free_is_refused(spawners: Any) -> None:
    first, second, third = (gpu_spawner(spawners, f"jupyter-jh_{n}") for n in ("ada", "bob", "eve"))
    first.apply_user_options(first, {"profile": "gpu"})
    second.apply_user_options(second, {"profile": "gpu"})
    assert first.extra_host_config == {"pids_limit": 4096, "device_requests": [{**NVIDIA, "device_ids": ["0"]}]}
    assert second.extra_host_config["device_requests"] == [{**NVIDIA, "device_ids": ["1"]}]
    assert first.get_state() == {"gpu_ids": ["0"]}
    with pytest.raises(StandInHTTPError) as refused:
        third.apply_user_options(third, {"profile": "gpu"})
    assert (refused.value.status_code, refused.value.log_message) == (
        503,
        "The profile gpu needs 1 GPU(s) of its own, and only 0 of its 2 are free now (other servers use them). "
        "Try again later, or choose another profile.",
    )
    first.clear_state()  # stopped: its GPU is free again
    assert first.base_cleared  # and DockerSpawner forgets its container
    third.apply_user_options(third, {"profile": "gpu"})
    assert third.extra_host_config["device_requests"] == [{**NVIDIA, "device_ids": ["0"]}]
    third.apply_user_options(third, {"profile": "demo"})  # the same server, restarted with the shared profile
    assert third.extra_host_config["device_requests"] == [{**NVIDIA, "device_ids": ["1"]}]
    first.apply_user_options(first, {"profile": "small"})  # no GPU: no device request left over
    assert first.extra_host_config == {"pids_limit": 4096} and first.get_state() == {}


@pytest.mark.usefixtures("no_gpus_held")
def test_a_restarted_hub_learns_who_holds_which_gpu_from_the_servers_states(spawners: Any) -> None:
    running, new = gpu_spawner(spawners, "jupyter-jh_ada"), gpu_spawner(spawners, "jupyter-jh_bob")
    running.load_state({"gpu_ids": ["0", "1"]})
    assert running.base_loaded == {"gpu_ids": ["0", "1"]}  # DockerSpawner reads its own keys of the state too
    with pytest.raises(StandInHTTPError, match="only 0 of its 2 are free"):
        new.apply_user_options(new, {"profile": "gpu"})
    new.apply_user_options(new, {"profile": "demo"})  # shared GPUs are given whoever holds them
    assert new.extra_host_config["device_requests"] == [{**NVIDIA, "device_ids": ["1"]}]


@pytest.mark.usefixtures("no_gpus_held")
def test_a_gpu_server_on_a_host_without_the_nvidia_runtime_fails_naming_the_host_and_frees_its_gpus(
    spawners: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawner = gpu_spawner(spawners, "jupyter-jh_ada")
    spawner.apply_user_options(spawner, {"profile": "pair"})

    async def no_runtime(self: Any) -> tuple[str, int]:
        raise RuntimeError('500 Server Error: could not select device driver "nvidia" with capabilities: [[gpu]]')

    monkeypatch.setattr(StandInSpawner, "start", no_runtime)
    with pytest.raises(StandInHTTPError) as refused:
        asyncio.run(spawner.start())
    assert refused.value.status_code == 503
    assert refused.value.log_message.startswith(
        "This server needs NVIDIA GPUs, and the Docker host gpu-host-1 cannot give them to containers: could not select "
        'device driver "nvidia" (the NVIDIA container toolkit is missing or not set up there).'
    )
    assert spawners.GpuMixin._held == {} and spawner.get_state() == {} and spawner.orm_spawner.user_options == {}
    assert spawner.removed  # the created container
    other = gpu_spawner(spawners, "jupyter-jh_bob")
    other.apply_user_options(other, {})  # no GPU profile asked: any other error is not a GPU one
    with pytest.raises(RuntimeError, match="could not select"):
        asyncio.run(other.start())
    assert not hasattr(other, "removed")  # not a GPU start: DockerSpawner's own failure path


def test_the_form_lists_only_the_users_profiles(spawners: Any) -> None:
    staff, student = profiled(spawners, ["staff"]), profiled(spawners, [])
    form = asyncio.run(staff.get_options_form())
    assert 'value="small" checked' in form and 'value="large"' in form and "for exercises" in form
    assert asyncio.run(student.get_options_form()) == ""  # one profile: no form, a start at once
    assert staff.run_options_from_form({"profile": ["large"]}) == {"profile": "large"}


def test_start_returns_once_the_port_answers(spawners: Any) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    lookups: list[tuple] = []

    async def scenario() -> tuple[tuple[str, int], float]:
        loop = asyncio.get_running_loop()
        resolve = loop.getaddrinfo

        async def counted(*args: Any, **kwargs: Any) -> Any:
            lookups.append((args, kwargs))
            return await resolve(*args, **kwargs)

        loop.getaddrinfo = counted  # type: ignore[method-assign]
        spawner = spawners.PromptDockerSpawner("jupyter-jh_ada", port)
        started = time.monotonic()
        loop.call_later(0.3, listener.listen)
        return await spawner.start(), time.monotonic() - started

    try:
        address, waited = asyncio.run(scenario())
        listener.settimeout(5)
        probe, _ = listener.accept()
        with probe:
            probe.settimeout(5)
            assert probe.recv(1) == b""  # the check closed its connection: nothing left open on the server
    finally:
        listener.close()
    assert address == ("127.0.0.1", port)
    assert 0.3 <= waited < 1.5
    # The container's name is looked up once, not at every poll.
    assert lookups == [(("127.0.0.1", port), {"type": socket.SOCK_STREAM})]


def test_start_gives_up_waiting_after_the_http_timeout(spawners: Any) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

    async def scenario() -> tuple[tuple[str, int], float]:
        spawner = spawners.PromptDockerSpawner("jupyter-jh_ada", port, http_timeout=0.4)
        started = time.monotonic()
        return await spawner.start(), time.monotonic() - started

    address, waited = asyncio.run(scenario())
    assert address == ("127.0.0.1", port) and 0.4 <= waited < 1.5  # JupyterHub's own check then reports the failure


def test_polls_of_one_turn_share_one_listing(spawners: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    sleep = asyncio.sleep

    async def recorded_sleep(delay: float) -> None:
        waits.append(delay)
        await sleep(delay)

    monkeypatch.setattr(spawners.asyncio, "sleep", recorded_sleep)
    StandInSpawner.listings = [
        {"Id": "id-ada", "Names": ["/jupyter-jh_ada"]},
        {"Id": "id-bob", "Names": ["/jupyter-jh_bob"]},
        {"Id": "id-x", "Names": None},
    ]
    spawners_ = [spawners.PromptDockerSpawner(f"jupyter-jh_{user}") for user in ("ada", "bob", "eve")]

    async def scenario() -> list[int | None]:
        return list(await asyncio.gather(*(spawner.poll() for spawner in spawners_)))

    assert asyncio.run(scenario()) == [None, None, 0]
    assert StandInSpawner.listing_calls == 1
    assert [s.object_id for s in spawners_] == ["id-ada", "id-bob", "old-id"]
    assert [s.super_polls for s in spawners_] == [0, 0, 1]  # eve's stopped server: DockerSpawner says how it ended
    assert waits == [0]  # the batch waits one event-loop turn for the others, not a timer


def test_a_poll_alone_in_its_turn_inspects_its_own_container(spawners: Any) -> None:
    spawner = spawners.PromptDockerSpawner("jupyter-jh_ada")
    assert asyncio.run(spawner.poll()) == 0
    assert (StandInSpawner.listing_calls, spawner.super_polls) == (0, 1)


def test_a_failed_listing_falls_back_to_one_inspect_each(spawners: Any) -> None:
    StandInSpawner.listing_fails = True
    spawners_ = [spawners.PromptDockerSpawner(f"jupyter-jh_{user}") for user in ("ada", "bob")]

    async def scenario() -> list[int | None]:
        return list(await asyncio.gather(*(spawner.poll() for spawner in spawners_)))

    assert asyncio.run(scenario()) == [0, 0]
    assert StandInSpawner.listing_calls == 1 and [s.super_polls for s in spawners_] == [1, 1]
    assert spawners_[0].warnings == [("Listing running servers failed; inspecting each instead", {"exc_info": True})]

    StandInSpawner.listing_fails = False  # the next turn lists again: a failure is not remembered
    assert asyncio.run(scenario()) == [0, 0] and StandInSpawner.listing_calls == 2


@pytest.mark.parametrize(
    ("desired", "state", "running"),
    [
        ("running", "running", True),
        ("running", "preparing", True),
        ("shutdown", "running", False),  # its node went down: the manager gave up on it, the node reports no more
        ("running", "failed", False),
        ("shutdown", "complete", False),
    ],
)
def test_a_swarm_server_runs_only_while_the_manager_wants_its_task_running(
    spawners: Any, desired: str, state: str, running: bool
) -> None:
    spawner = spawners.HomeVolumeSwarmSpawner("jupyter-jh_ada")

    async def get_task() -> dict[str, Any]:
        return {"DesiredState": desired, "Status": {"State": state, "Message": "m"}}

    spawner.get_task = get_task
    ended = asyncio.run(spawner.poll())
    assert (ended is None) == running
    if not running:
        assert f"'DesiredState': '{desired}'" in ended and f"'State': '{state}'" in ended


def test_a_new_service_without_its_task_yet_is_waited_for_and_a_gone_one_fails(
    spawners: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Swarm makes a service's task a moment after the create: no task yet is not a failure while the service exists."""
    monkeypatch.setattr(spawners, "TASK_POLL_S", 0)
    spawner = spawners.HomeVolumeSwarmSpawner("jupyter-jh_ada")
    spawner.start_timeout, spawner.service_name = 5, "jupyter-jh_ada"
    tasks = iter([None, None, {"Status": {"State": "running"}, "NodeID": "n1"}])
    services: list[dict[str, Any] | None] = [{"ID": "s1"}]

    async def get_task() -> dict[str, Any] | None:
        return next(tasks)

    async def get_object() -> dict[str, Any] | None:
        return services[0]

    async def ready(node_id: str) -> None:
        spawner.home_node = node_id

    spawner.get_task, spawner.get_object = get_task, get_object
    spawner._address_on_network = lambda task: "10.0.0.5"
    spawner._remember_home_node = ready
    asyncio.run(spawner.start_object())
    assert (spawner.task_address, spawner.home_node) == ("10.0.0.5", "n1")
    services[0] = None
    tasks = iter([None])
    with pytest.raises(RuntimeError, match="Service jupyter-jh_ada not found"):
        asyncio.run(spawner.start_object())


def swarm_spawner(spawners: Any, **traits: Any) -> Any:
    spawner = spawners.PromptSwarmSpawner("jupyter-jh_ada")
    spawner.image, spawner.mem_limit, spawner.cpu_limit = "reg/lab@sha256:1", 512 * 1024**2, 0.25
    spawner.pids_limit, spawner.log_config = 4096, {"Name": "json-file", "Options": {"max-size": "10m"}}
    spawner.volume_binds = {"jh-home-ada": {"bind": "/home/jovyan", "mode": "rw"}}
    spawner.volume_driver, spawner.volume_driver_options, spawner.home_volume_labels = "", {}, {"d": "jh"}
    spawner.network_name, spawner.service_name, spawner.extra_create_kwargs = "jh", "jupyter-jh_ada", {"labels": {"d": "jh"}}
    spawner.user_constraints, spawner.sticky_homes, spawner.home_node = ["node.role == worker"], True, ""
    spawner.get_env = lambda: {"JUPYTERHUB_USER": "ada"}
    spawner.format_volume_name = lambda value, _spawner: value.replace("{username}", "ada")

    async def get_command() -> list[str]:
        return ["jupyterhub-singleuser"]

    spawner.get_command = get_command
    for name, value in traits.items():
        setattr(spawner, name, value)
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    async def docker(method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((method, args, kwargs))
        return {"ID": "s1", "Description": {"Hostname": "node-2"}}

    spawner.docker, spawner.calls = docker, calls
    return spawner


def test_a_swarm_servers_service_is_the_spec_the_filter_pins(spawners: Any) -> None:
    spawner = swarm_spawner(spawners, home_node="node-2", profile_placement=("node.labels.big == true",))
    assert asyncio.run(spawner.create_object()) == {"ID": "s1", "Description": {"Hostname": "node-2"}}
    [(method, args, kwargs)] = spawner.calls
    assert (method, args) == ("create_service", ())
    assert (kwargs["name"], kwargs["labels"], kwargs["endpoint_spec"]) == ("jupyter-jh_ada", {"d": "jh"}, {"Mode": "dnsrr"})
    resources = {"MemoryBytes": 512 * 1024**2, "NanoCPUs": 250_000_000}
    assert json.loads(json.dumps(kwargs["task_template"])) == {
        "ContainerSpec": {
            "Image": "reg/lab@sha256:1",
            "Command": None,  # docker-py's; the filter allows only that
            "Env": ["JUPYTERHUB_USER=ada"],
            "Args": ["jupyterhub-singleuser"],
            "Mounts": [{"Target": "/home/jovyan", "Source": "jh-home-ada", "Type": "volume", "ReadOnly": False,
                        "VolumeOptions": {"Labels": {"d": "jh"}}}],
        },
        "Resources": {"Limits": {**resources, "Pids": 4096}, "Reservations": resources},
        "RestartPolicy": {"Condition": "none", "Delay": 0, "MaxAttempts": 0, "Window": 0},
        "Placement": {"Constraints": ["node.role == worker", "node.labels.big == true", "node.hostname==node-2"]},
        "Networks": [{"Target": "jh"}],
        "LogDriver": {"Name": "json-file", "Options": {"max-size": "10m"}},
    }  # fmt: skip


def test_a_shared_homes_driver_options_name_the_user_and_no_pin_is_added(spawners: Any) -> None:
    options = {"type": "nfs", "device": ":/homes/{username}"}
    spawner = swarm_spawner(spawners, volume_driver="local", volume_driver_options=options, sticky_homes=False)
    spawner.home_node, spawner.pids_limit, spawner.log_config = "node-2", 0, {}
    asyncio.run(spawner.create_object())
    task = json.loads(json.dumps(spawner.calls[0][2]["task_template"]))
    assert task["ContainerSpec"]["Mounts"][0]["VolumeOptions"]["DriverConfig"] == {
        "Name": "local",
        "Options": {"type": "nfs", "device": ":/homes/ada"},
    }
    assert task["Placement"] == {"Constraints": ["node.role == worker"]}
    assert "Pids" not in task["Resources"]["Limits"] and "LogDriver" not in task


@pytest.mark.parametrize(
    "state", sorted(["new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"])
)
def test_a_starting_task_is_waited_for_until_it_runs(spawners: Any, monkeypatch: pytest.MonkeyPatch, state: str) -> None:
    monkeypatch.setattr(spawners, "TASK_POLL_S", 0)
    spawner = swarm_spawner(spawners, start_timeout=5)
    running: dict[str, Any] = {"Status": {"State": "running"}, "NodeID": "n1", "NetworksAttachments": [
        {"Network": {"Spec": {"Name": "other"}}, "Addresses": ["10.1.0.9/24"]},
        {"Network": {"Spec": {"Name": "jh"}}, "Addresses": ["10.0.0.5/24"]},
    ]}  # fmt: skip
    tasks = iter([{"Status": {"State": state}}, running])

    async def get_task() -> dict[str, Any]:
        return next(tasks)

    spawner.get_task = get_task
    asyncio.run(spawner.start_object())
    assert (spawner.task_address, spawner.home_node) == ("10.0.0.5", "node-2")
    assert spawner.calls == [("inspect_node", ("n1",), {})]
    assert asyncio.run(spawner.get_ip_and_port()) == ("10.0.0.5", spawner.port)
    assert spawner.get_state()["home_node"] == "node-2"


def test_a_task_that_ends_before_running_fails_the_start_and_one_no_node_takes_is_removed_at_once(
    spawners: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spawners, "TASK_POLL_S", 0)
    spawner = swarm_spawner(spawners, start_timeout=5)
    spawner.object_id = "s1"

    async def failed() -> dict[str, Any]:
        return {"Status": {"State": "rejected", "Err": "image not found"}}

    spawner.get_task = failed
    with pytest.raises(RuntimeError, match=r"Service jupyter-jh_ada not running: .*rejected"):
        asyncio.run(spawner.start_object())
    assert spawner.calls == []

    async def unschedulable() -> dict[str, Any]:
        return {"Status": {"State": "pending", "Err": "no suitable node (insufficient resources on 2 nodes)"}}

    spawner.get_task = unschedulable
    with pytest.raises(RuntimeError, match=r"^No node of the cluster can take your server now \(no suitable node"):
        asyncio.run(spawner.start_object())
    assert spawner.calls == [("remove_service", ("s1",), {})]
    spawner.home_node = "node-2"
    with pytest.raises(RuntimeError, match=r"^Your home folder is on the node node-2, which cannot run your server now"):
        asyncio.run(spawner.start_object())


def test_a_home_node_outlives_the_server_and_a_task_off_the_network_is_an_error(spawners: Any) -> None:
    spawner = swarm_spawner(spawners)
    spawner.load_state({"home_node": "node-3"})
    assert spawner.home_node == "node-3" and spawner.base_loaded == {"home_node": "node-3"}  # DockerSpawner's too
    spawner.clear_state()
    assert spawner.home_node == "node-3" and spawner.get_state()["home_node"] == "node-3" and spawner.base_cleared
    unsticky = swarm_spawner(spawners, sticky_homes=False)
    asyncio.run(unsticky._remember_home_node("n1"))
    assert unsticky.home_node == "" and unsticky.calls == [] and "home_node" not in unsticky.get_state()
    with pytest.raises(RuntimeError, match="has no address on the network jh"):
        spawner._address_on_network({"NetworksAttachments": [{"Network": {"Spec": {"Name": "jh"}}, "Addresses": []}]})
