"""Swarm mode (`cluster.mode: swarm`): its settings, the manager and node checks, and what
the program declares: an attachable overlay, the notebook image pushed and used by digest,
pre-pulled on every node users' servers may run on before the hub is pointed at it."""

from __future__ import annotations

import json
import types
from typing import Any

import pytest

from components import preflight
from components.config import ConfigError, StackConfig, parse_config
from components.swarm import SwarmNode, check_profile_placement, check_swarm_manager, eligible_nodes, satisfies, swarm_node
from testkit.program_runner import ProgramRun, run_program
from tests.unit.echo_mocks import ProviderEchoMocks

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/image:Image"
NETWORK = "docker:index/network:Network"
SERVICE = "docker:index/service:Service"
REGISTRY = "registry.example.org:5000"
SWARM = {"mode": "swarm", "registry": REGISTRY}


def parse(raw: dict[str, Any], secrets: dict[str, Any] | None = None) -> StackConfig:
    return parse_config(raw, secrets or {})


def node(
    hostname: str, role: str = "worker", state: str = "ready", availability: str = "active", engine: str = "26.1.5", **labels: str
) -> SwarmNode:
    return swarm_node(listed_node(hostname, role, state, availability, engine, **labels))


def listed_node(
    hostname: str, role: str = "worker", state: str = "ready", availability: str = "active", engine: str = "26.1.5", **labels: str
) -> dict[str, Any]:
    """A node as the engine's /nodes lists it."""
    return {
        "ID": f"id-{hostname}",
        "Description": {
            "Hostname": hostname,
            "Platform": {"OS": "linux", "Architecture": "x86_64"},
            "Engine": {"EngineVersion": engine},
        },
        "Spec": {"Role": role, "Availability": availability, "Labels": labels},
        "Status": {"State": state},
    }


@pytest.mark.parametrize(
    ("raw", "key", "fix"),
    [
        ({"cluster": {"mode": "swarm"}}, "cluster.registry", "cluster.registry"),
        ({"dockerApiProxy": False, "cluster": {**SWARM, "registryUsername": "ci"}}, "registryPassword", "set registryPassword"),
        ({"dockerApiProxy": False, "spawner": {"type": "systemuser"}, "cluster": SWARM}, "spawner.type", "spawner.type docker"),
        (
            {"dockerApiProxy": False, "backup": {"enabled": True, "repository": "/srv/b"}, "cluster": SWARM},
            "backup.enabled",
            "backup.enabled false",
        ),
        ({"dockerApiProxy": False, "cluster": {**SWARM, "homes": "shared"}}, "cluster.homeVolumeOptions", "NFS options"),
        ({"dockerApiProxy": False, "spawner": {"gpuDevices": ["0"]}, "cluster": SWARM}, "spawner.gpuDevices", "on one host"),
        (
            {"dockerApiProxy": False, "spawner": {"sharedVolumes": [{"name": "course"}]}, "cluster": SWARM},
            "spawner.sharedVolumes",
            "in the image of a profile",
        ),
        ({"cluster": {"registry": REGISTRY}}, "cluster.registry", "set cluster.mode swarm"),
        ({"cluster": {"userPlacement": ["node.role == worker"]}}, "cluster.userPlacement", "set cluster.mode swarm"),
        ({"cluster": {"mode": "swarm", "registry": "https://registry"}}, "cluster.registry", "cluster.registry"),
        ({"cluster": {**SWARM, "userPlacement": ["node.role = worker"]}}, "cluster.userPlacement", "cluster.userPlacement[0]"),
        ({"cluster": {**SWARM, "userPlacement": ["node.labels.x == a b"]}}, "cluster.userPlacement", "node.role == worker"),
        ({"cluster": {"mode": "kubernetes"}}, "cluster.mode", "cluster.mode single"),
    ],
)
def test_bad_swarm_settings_are_refused_naming_key_and_fix(raw: dict, key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse(raw, {"backupPassword": "a-long-password"})
    assert f"config '{key}'" in str(refused.value) and fix in str(refused.value)


def test_a_swarm_stack_with_placement_and_shared_homes_is_accepted() -> None:
    cluster = {
        **SWARM,
        "userPlacement": ["node.role == worker", "node.labels.jupyter!=no"],
        "homes": "shared",
        "homeVolumeOptions": {"type": "nfs", "o": "addr=10.0.0.5,rw", "device": ":/homes/{username}"},
    }
    config = parse({"dockerApiProxy": False, "cluster": cluster})
    assert config.cluster.swarm and config.cluster.user_placement == ("node.role == worker", "node.labels.jupyter!=no")


@pytest.mark.parametrize(
    ("constraints", "matches"),
    [
        ([], True),
        (["node.role == worker"], True),
        (["node.role==manager"], False),
        (["node.role != manager"], True),
        (["node.hostname == NODE-2"], True),  # swarmkit compares values case-insensitively
        (["node.labels.jupyter == true"], True),
        (["node.labels.gpu == true"], False),
        (["node.labels.gpu != true"], True),  # a node without the label is not equal
        (["node.platform.os == linux", "node.platform.arch == x86_64"], True),
        (["node.role == worker", "node.labels.jupyter == false"], False),
    ],
)
def test_placement_constraints_match_as_swarm_matches_them(constraints: list[str], matches: bool) -> None:
    assert satisfies(node("node-2", jupyter="true"), constraints) is matches


def test_only_ready_active_nodes_that_match_may_run_servers() -> None:
    nodes = [node("m", role="manager"), node("w1"), node("w2", state="down"), node("w3", availability="drain")]
    assert eligible_nodes(nodes, ["node.role == worker"]) == ("w1",)
    assert eligible_nodes(nodes, []) == ("m", "w1")
    with pytest.raises(ConfigError, match=r"cluster.userPlacement.*w2 \(worker, down, active\).*docker node update"):
        eligible_nodes(nodes, ["node.labels.gpu == true"])
    with pytest.raises(ConfigError, match=r"without workers, pulumi config set --path cluster.managersRunServers true"):
        eligible_nodes([node("m", role="manager")], ["node.role == worker"])


def test_a_profiles_placement_needs_a_ready_active_node_where_users_servers_may_run() -> None:
    nodes = [node("m", role="manager", gpu="true"), node("w1"), node("w2", gpu="true", state="down"), node("w3", gpu="true")]
    check_profile_placement(nodes, ["node.role == worker"], ["node.labels.gpu == true"], "spawner.profiles[1].placement")
    key = "spawner.profiles[1].placement"
    with pytest.raises(ConfigError, match=r"^config 'spawner.profiles\[1\].placement' = \['node.labels.gpu == true'\]: no ready"):
        check_profile_placement(nodes[:3], ["node.role == worker"], ["node.labels.gpu == true"], key)  # w2 is down; m a manager


@pytest.mark.parametrize(
    ("version", "eligible"),
    [("20.10.0", True), ("20.10.24+dfsg1", True), ("26.1.5", True), ("20.9.9", False), ("19.03.15", False), ("", False)],
)
def test_a_node_whose_engine_ignores_a_services_capability_drop_and_process_limit_may_not_run_servers(
    version: str, eligible: bool
) -> None:
    nodes = [node("w1"), node("w2", engine=version)]
    if eligible:
        assert eligible_nodes(nodes, []) == ("w1", "w2")
        return
    with pytest.raises(
        ConfigError, match=r"node w2 .* ignores a service's capability drop and process limit .*'node.hostname != w2"
    ):
        eligible_nodes(nodes, [])
    assert eligible_nodes(nodes, ["node.hostname != w2"]) == ("w1",)  # the fix the message names


@pytest.mark.parametrize(
    ("swarm", "refused"),
    [
        ({"LocalNodeState": "active", "ControlAvailable": True}, None),
        ({"LocalNodeState": "active", "ControlAvailable": False}, "a worker"),
        ({"LocalNodeState": "inactive", "ControlAvailable": False}, r"not in a swarm \(inactive\)"),
        ({}, r"not in a swarm \(no swarm\)"),
    ],
)
def test_the_provider_must_point_at_a_swarm_manager(swarm: dict, refused: str | None) -> None:
    if refused is None:
        check_swarm_manager({"Swarm": swarm}, "ssh://admin@manager")
        return
    with pytest.raises(ConfigError, match=f"ssh://admin@manager is {refused}.*docker swarm init.*docker:host"):
        check_swarm_manager({"Swarm": swarm}, "ssh://admin@manager")


@pytest.fixture(scope="module")
def run_swarm() -> ProgramRun:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preflight, "check_public_port", lambda *args, **named: None)
        patch.setattr(preflight, "check_neighbours", lambda *args: None)
        patch.setattr(preflight, "swarm_nodes", lambda config: ("node-1", "node-2", "node-3"))
        cluster = json.dumps({**SWARM, "userPlacement": ["node.role == worker"]})
        return run_program(ProviderEchoMocks(), config={"cluster": cluster})


def test_proxy_hub_and_users_share_an_attachable_overlay(run_swarm: ProgramRun) -> None:
    network = run_swarm.get(NETWORK, "network").inputs
    assert (network["driver"], network["attachable"]) == ("overlay", True)
    assert {c.name for c in run_swarm.of_type(CONTAINER)} == {"proxy", "hub", "docker-api-proxy"}  # containers on the manager


def test_with_tls_the_terminator_runs_on_the_manager_beside_the_proxy_and_is_not_pushed() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preflight, "check_public_port", lambda *args, **named: None)
        patch.setattr(preflight, "check_neighbours", lambda *args: None)
        patch.setattr(preflight, "swarm_nodes", lambda config: ("node-1", "node-2"))
        acme = {"publicHost": "hub.example.org", "tls": json.dumps({"mode": "acme", "acmeEmail": "ops@example.org"})}
        run = run_program(ProviderEchoMocks(), config={"cluster": json.dumps(SWARM), **acme})
    assert {c.name for c in run.of_type(CONTAINER)} == {"proxy", "hub", "docker-api-proxy", "tls"}
    assert run.get(CONTAINER, "tls").inputs["networksAdvanced"] == [{"name": "jupyterhub-dev", "aliases": ["hub.example.org"]}]
    assert run.get(IMAGE, "tls-image").inputs["skipPush"] is True
    assert not [s for s in run.of_type(SERVICE) if "tls" in s.inputs["name"]]


def test_the_notebook_image_alone_is_pushed_to_the_registry(run_swarm: ProgramRun) -> None:
    pushed = {i.name: i.inputs["imageName"] for i in run_swarm.of_type(IMAGE) if not i.inputs.get("skipPush")}
    assert list(pushed) == ["notebook-image"]
    assert pushed["notebook-image"].startswith(f"{REGISTRY}/jupyterhub-dev-notebook:")


def test_the_image_is_pre_pulled_on_every_eligible_node_before_the_hub_uses_it(run_swarm: ProgramRun) -> None:
    pre_pull = run_swarm.get(SERVICE, "pre-pull-default")
    spec = pre_pull.inputs
    digest = run_swarm.exports["notebookImageInUse"]
    assert digest.startswith(f"{REGISTRY}/jupyterhub-dev-notebook@sha256:")
    assert spec["name"] == "jupyterhub-dev-image-default"
    assert spec["mode"] == {"replicated": {"replicas": 3}}
    assert spec["taskSpec"]["placement"] == {"constraints": ["node.role == worker"], "maxReplicas": 1}
    assert spec["taskSpec"]["containerSpec"]["image"] == digest
    assert spec["taskSpec"]["containerSpec"]["readOnly"] is True and spec["taskSpec"]["containerSpec"]["user"] == "65534"
    assert spec["convergeConfig"]["timeout"] == "10m"
    names = {r.urn: r.name for r in run_swarm.registrations.values()}
    assert "pre-pull-default" in {names[urn] for urn in run_swarm.get(CONTAINER, "hub").dependencies}


def test_the_hub_spawns_swarm_services_of_the_pinned_image(run_swarm: ProgramRun) -> None:
    uploads = {u["file"]: u["content"] for u in run_swarm.get(CONTAINER, "hub").inputs["uploads"]}
    spawner = json.loads(uploads["/etc/jupyterhub/settings.json"])["spawner"]
    traits = spawner["traitlets"]["SwarmSpawner"]
    assert spawner["class"] == "spawners.PromptSwarmSpawner"
    assert traits["image"] == run_swarm.exports["notebookImageInUse"]
    assert traits["network_name"] == "jupyterhub-dev"
    assert traits["user_constraints"] == ["node.role == worker"] and traits["sticky_homes"] is True
    assert traits["volumes"] == {"jupyterhub-dev-home-{username}": "/home/jovyan"}
    assert "volume_driver" not in traits


def test_shared_homes_give_every_server_the_drivers_mount() -> None:
    from components.user_servers import UserServerImages, backend_of

    options = {"type": "nfs", "o": "addr=10.0.0.5,rw", "device": ":/homes/{username}"}
    config = parse({"dockerApiProxy": False, "cluster": {**SWARM, "homes": "shared", "homeVolumeOptions": options}})
    traits = backend_of(config).traitlets(config, UserServerImages("img@sha256:1", {"default": "img@sha256:1"}))
    assert traits["SwarmSpawner"]["volume_driver"] == "local"
    assert traits["SwarmSpawner"]["volume_driver_options"] == options
    assert traits["SwarmSpawner"]["sticky_homes"] is False


def test_the_filter_pins_users_services_to_the_digest_and_the_placement(run_swarm: ProgramRun) -> None:
    uploads = {u["file"]: u["content"] for u in run_swarm.get(CONTAINER, "docker-api-proxy").inputs["uploads"]}
    policy = json.loads(uploads["/etc/docker-api-filter/policy.json"])
    assert policy["images"] == [run_swarm.exports["notebookImageInUse"]]
    assert policy["swarm"] == {
        "constraints": ["node.role == worker"],
        "stickyHomes": True,
        "volumeDriver": None,
        "managersRunServers": False,
    }
    assert policy["network"] == "jupyterhub-dev"


def test_a_rollback_image_is_used_and_pre_pulled_by_its_registry_digest() -> None:
    previous = f"{REGISTRY}/jupyterhub-dev-notebook:0123456789ab"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preflight, "check_public_port", lambda *args, **named: None)
        patch.setattr(preflight, "check_neighbours", lambda *args: None)
        patch.setattr(preflight, "swarm_nodes", lambda config: ("node-1", "node-2"))
        run = run_program(ProviderEchoMocks(), config={"cluster": json.dumps(SWARM), "notebookRollbackImage": previous})
    digest = run.exports["notebookImageInUse"]
    assert digest.startswith(f"{REGISTRY}/jupyterhub-dev-notebook@sha256:") and digest != run.exports["notebookImage"]
    assert run.get("docker:index/remoteImage:RemoteImage", "notebook-rollback-image").inputs["name"] == previous
    assert run.get(SERVICE, "pre-pull-default").inputs["taskSpec"]["containerSpec"]["image"] == digest
    assert run.get(SERVICE, "pre-pull-default").inputs["mode"] == {"replicated": {"replicas": 2}}


def test_profiles_in_swarm_mode_are_pre_pulled_and_placed_by_their_own_constraints() -> None:
    r_image = f"{REGISTRY}/r-notebook:4.4"
    profiles = [
        {"name": "small", "memLimit": "512M", "cpuLimit": "0.5"},
        {"name": "gpu", "image": r_image, "placement": "node.labels.gpu == true", "groups": ["ml"]},
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preflight, "check_public_port", lambda *args, **named: None)
        patch.setattr(preflight, "check_neighbours", lambda *args: None)
        patch.setattr(preflight, "swarm_nodes", lambda config: ("node-1", "node-2"))
        run = run_program(
            ProviderEchoMocks(), config={"cluster": json.dumps(SWARM), "spawner": json.dumps({"profiles": profiles})}
        )
    r_digest = run.get(SERVICE, "pre-pull-image-gpu").inputs["taskSpec"]["containerSpec"]["image"]
    assert r_digest.startswith(f"{REGISTRY}/r-notebook@sha256:")
    assert run.get("docker:index/remoteImage:RemoteImage", "image-gpu").inputs["name"] == r_image
    uploads = {u["file"]: u["content"] for u in run.get(CONTAINER, "docker-api-proxy").inputs["uploads"]}
    shapes = json.loads(uploads["/etc/docker-api-filter/policy.json"])["shapes"]
    built = run.exports["notebookImageInUse"]
    assert shapes == [  # in the order of their JSON text
        {"constraints": ["node.labels.gpu == true"], "cpuQuota": 100_000, "gpuIds": [], "gpus": 0, "image": r_digest,
         "memoryBytes": 2 * 1024**3, "nanoCpus": 10**9},
        {"constraints": [], "cpuQuota": 50_000, "gpuIds": [], "gpus": 0, "image": built, "memoryBytes": 512 * 1024**2,
         "nanoCpus": 500_000_000},
    ]  # fmt: skip
    uploads = {u["file"]: u["content"] for u in run.get(CONTAINER, "hub").inputs["uploads"]}
    offered = json.loads(uploads["/etc/jupyterhub/settings.json"])["spawner"]["traitlets"]["SwarmSpawner"]["profiles"]
    assert [(p["name"], p["image"], p["placement"]) for p in offered] == [
        ("small", built, []),
        ("gpu", r_digest, ["node.labels.gpu == true"]),
    ]


def test_a_profile_placement_no_node_meets_is_refused_at_preview(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = [listed_node("w1"), listed_node("w2", gpu="true", availability="drain")]
    engine = types.SimpleNamespace(
        info=lambda: {"Swarm": {"LocalNodeState": "active", "ControlAvailable": True}},
        nodes=types.SimpleNamespace(list=lambda: [types.SimpleNamespace(attrs=attrs) for attrs in listed]),
    )
    monkeypatch.setattr(preflight, "provider_client", lambda: engine)
    gpu = {"name": "gpu", "placement": ["node.labels.gpu == true"]}
    config = parse({"cluster": SWARM, "spawner": {"profiles": [{"name": "small"}, gpu]}})
    with pytest.raises(ConfigError, match=r"^config 'spawner.profiles\[1\].placement' = \['node.labels.gpu == true'\]: no ready"):
        preflight.swarm_nodes(config)
    assert preflight.swarm_nodes(parse({"cluster": SWARM, "spawner": {"profiles": [{"name": "small"}]}})) == ("w1",)
