"""Attacks on the Docker API filter from a shell in the hub, judged by the real engine.

Each attack is raw bytes sent from inside the hub container to the filter, the way
an attacker who owns the hub would send them. The filter's own answers are not
trusted: afterwards the engine is asked what exists. Most attacks exploit a
difference between how a filter and the engine's Go parser read the same bytes
(repeated or case-folded JSON keys, nulls, merged objects, repeated headers,
UTF-16, smuggled requests, absolute-form targets, repeated query parameters), so
only the real engine can tell whether they worked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from components.config import ConfigError
from components.names import LABEL as DEPLOYMENT_LABEL
from components.names import DeploymentNames
from components.neighbours import check_neighbours
from testkit.harness import HARNESS_LABEL
from tests.e2e.deployed import E2E_NAME, NAMES, Deployed, raw_answers_from_the_hub, raw_requests_from_the_hub

ATTACKER = "mallory"


def spawner_body(deployed: Deployed, user: str) -> dict[str, Any]:
    """A create DockerSpawner could send for a user (the dev stack's one profile: 1G, 1 CPU)."""
    return {
        "Image": deployed.first_apply.run.exports["notebookImage"],
        "Cmd": ["sleep", "600"],
        "Env": ["JUPYTERHUB_USER=" + user],
        "Labels": deployed.names.labels,
        "ExposedPorts": {"8888/tcp": None},
        "HostConfig": {
            "NetworkMode": deployed.names.network,
            "Binds": [f"{deployed.names.home_volume(user)}:/home/jovyan:rw"],
            "Memory": 1024**3,
            "CpuPeriod": 100_000,
            "CpuQuota": 100_000,
            "PidsLimit": 1024,
        },
    }


def http(method: str, target: str, body: bytes = b"", headers: str | None = None) -> bytes:
    framing = f"Content-Length: {len(body)}\r\n" if headers is None else headers
    head = f"{method} {target} HTTP/1.1\r\nHost: {E2E_NAME}-docker-api:2375\r\nContent-Type: application/json\r\n"
    return f"{head}{framing}\r\n".encode() + body


def create(user: str, body: str | bytes, query: str = "", headers: str | None = None) -> bytes:
    data = body.encode() if isinstance(body, str) else body
    return http("POST", f"/v1.41/containers/create?name={NAMES.user_server(user)}{query}", data, headers)


def splice(body: dict[str, Any], host_config_extra: str = "", top_extra: str = "") -> str:
    """The body as JSON text with extra raw members (repeated keys, case variants) spliced in."""
    text = json.dumps(body)
    if host_config_extra:
        text = text.replace('"HostConfig": {', '"HostConfig": {' + host_config_extra + ", ", 1)
    if top_extra:
        text = text[:-1] + ", " + top_extra + "}"
    return text


def attacks(deployed: Deployed) -> dict[str, bytes]:
    """Every attack creates (if it works) a user container for mallory-<n>."""
    found: dict[str, bytes] = {}

    def add(name: str, build: Any) -> None:
        user = f"{ATTACKER}-{len(found)}"
        found[name] = build(user, spawner_body(deployed, user))

    hub_image = deployed.first_apply.run.exports["hubImage"]
    privileged_host = '{"Privileged": true, "Binds": ["/:/host"], "PidMode": "host", "NetworkMode": "host"}'
    add("repeated HostConfig, merged by Go", lambda u, b: create(u, splice(b, top_extra='"HostConfig": ' + privileged_host)))
    add(
        "repeated HostConfig, the safe one last",
        lambda u, b: create(u, '{"HostConfig": ' + privileged_host + ", " + json.dumps(b)[1:]),
    )
    add(
        "lower-case hostconfig beside HostConfig", lambda u, b: create(u, splice(b, top_extra='"hostconfig": ' + privileged_host))
    )
    add("lower-case privileged", lambda u, b: create(u, splice(b, '"privileged": true')))
    add("Unicode case fold: Bind\u017f (long s) for Binds", lambda u, b: create(u, splice(b, '"Bind\u017f": ["/:/host"]')))
    add("Unicode case fold: \u017fecurityOpt", lambda u, b: create(u, splice(b, '"\u017fecurityOpt": ["seccomp=unconfined"]')))
    add("repeated Binds", lambda u, b: create(u, splice(b, '"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]')))
    add("null NetworkMode after a real one", lambda u, b: create(u, splice(b, top_extra='"HostConfig": {"NetworkMode": null}')))
    add("null Memory", lambda u, b: create(u, splice(b, '"Memory": null')))
    add("repeated Labels map", lambda u, b: create(u, splice(b, top_extra='"Labels": {"x": "y"}')))
    add(
        "NetworkingConfig onto the hub's network",
        lambda u, b: create(u, json.dumps({**b, "NetworkingConfig": {"EndpointsConfig": {NAMES.docker_api_container: {}}}})),
    )
    add(
        "NetworkingConfig with an alias of the hub",
        lambda u, b: create(
            u, json.dumps({**b, "NetworkingConfig": {"EndpointsConfig": {E2E_NAME: {"Aliases": ["jhe2e-hub"]}}}})
        ),
    )
    add("Mounts: host root", lambda u, b: create(u, splice(b, '"Mounts": [{"Type": "bind", "Source": "/", "Target": "/host"}]')))
    add("CapAdd", lambda u, b: create(u, splice(b, '"CapAdd": ["SYS_ADMIN"]')))
    add("Devices", lambda u, b: create(u, splice(b, '"Devices": [{"PathOnHost": "/dev/mem", "PathInContainer": "/dev/mem"}]')))
    add("no process limit", lambda u, b: create(u, json.dumps(b).replace(', "PidsLimit": 1024', "")))
    add("published port", lambda u, b: create(u, splice(b, '"PortBindings": {"8888/tcp": [{"HostPort": "18888"}]}')))
    add("CpuQuota -1 (no limit)", lambda u, b: create(u, json.dumps(b).replace('"CpuQuota": 100000', '"CpuQuota": -1')))
    add(
        "Memory of exabytes",
        lambda u, b: create(u, json.dumps(b).replace('"Memory": 1073741824', '"Memory": 4611686018427387904')),
    )
    add("foreign image: the base image", lambda u, b: create(u, json.dumps({**b, "Image": "debian:trixie-slim"})))
    add("foreign image: the hub image", lambda u, b: create(u, json.dumps({**b, "Image": hub_image})))
    add("root user", lambda u, b: create(u, json.dumps({**b, "User": "0"})))
    add("root user as name", lambda u, b: create(u, json.dumps({**b, "User": "root"})))
    add(
        "UTF-16 body",
        lambda u, b: create(u, json.dumps({**b, "HostConfig": {**b["HostConfig"], "Privileged": True}}).encode("utf-16")),
    )
    add("repeated name query", lambda u, b: create(u, json.dumps(b), query=f"&name={E2E_NAME}-hub"))
    add("unknown query parameter", lambda u, b: create(u, json.dumps(b), query="&platform=linux/amd64"))

    def smuggled(user: str, body: dict[str, Any], framing: str) -> bytes:
        inner = create(user, json.dumps({**body, "HostConfig": {**body["HostConfig"], "Privileged": True}}))
        return http("POST", "/v1.41/containers/jupyter-nobody/start", inner, framing.format(n=len(inner)))

    add("two Content-Lengths, body smuggled", lambda u, b: smuggled(u, b, "Content-Length: 0\r\nContent-Length: {n}\r\n"))
    add("two Content-Lengths, other order", lambda u, b: smuggled(u, b, "Content-Length: {n}\r\nContent-Length: 0\r\n"))
    add("chunked body smuggled", lambda u, b: smuggled(u, b, "Transfer-Encoding: chunked\r\nContent-Length: {n}\r\n"))
    add("folded Content-Length", lambda u, b: smuggled(u, b, "Content-Length: 0\r\n {n}\r\n"))
    add(
        "absolute-form target, old API",
        lambda u, b: http("POST", f"http://x/v1.20/containers/create?name={NAMES.user_server(u)}", json.dumps(b).encode()),
    )
    add(
        "old API version: HostConfig on start",
        lambda u, b: http("POST", f"/v1.23/containers/{E2E_NAME}-hub/start", json.dumps({"Privileged": True}).encode()),
    )
    add("exec in the proxy", lambda u, b: http("POST", f"/v1.41/containers/{E2E_NAME}-proxy/exec", b'{"Cmd": ["id"]}'))
    add("stop the proxy", lambda u, b: http("POST", f"/v1.41/containers/{E2E_NAME}-proxy/stop"))
    # A short ID is a prefix: the engine's "multiple IDs found" would name others' containers.
    for prefix in ("0", "7", "a", "f0"):
        add(f"short ID {prefix}", lambda u, b, prefix=prefix: http("GET", f"/v1.41/containers/{prefix}/json"))
    add("encoded path", lambda u, b: http("POST", f"/v1.41/containers/{E2E_NAME}-proxy%2Fstop"))
    add("dot segments", lambda u, b: http("POST", f"/v1.41/containers/jupyter-x/../{E2E_NAME}-proxy/stop"))
    add("pull an image", lambda u, b: http("POST", "/v1.41/images/create?fromImage=busybox&tag=latest"))
    add(
        "create a volume on the host root",
        lambda u, b: http("POST", "/v1.41/volumes/create", b'{"Name": "x", "DriverOpts": {"device": "/"}}'),
    )
    return found


@pytest.fixture
def clean_engine(deployed: Deployed) -> Iterator[docker.DockerClient]:
    def remove_attackers() -> None:
        for container in deployed.client.containers.list(all=True, filters={"name": NAMES.user_server(ATTACKER)}):
            container.remove(force=True)
        for volume in deployed.client.volumes.list(filters={"name": NAMES.home_volume(ATTACKER)}):
            volume.remove(force=True)

    remove_attackers()
    yield deployed.client
    remove_attackers()


def send_from_the_hub(deployed: Deployed, requests: dict[str, bytes]) -> dict[str, list[int]]:
    return raw_requests_from_the_hub(deployed.client, NAMES, requests)


def deployment_containers(client: docker.DockerClient) -> dict[str, tuple[str, str]]:
    return {
        c.name: (c.id, c.attrs["State"]["StartedAt"])
        for c in client.containers.list(all=True, filters={"name": E2E_NAME})
        if c.name in {NAMES.hub_container, NAMES.proxy_container, NAMES.docker_api_container}
    }


def test_attacks_from_the_hub_create_and_change_nothing_on_the_real_engine(
    deployed: Deployed, clean_engine: docker.DockerClient
) -> None:
    before = deployment_containers(clean_engine)
    assert len(before) == 3
    answers = send_from_the_hub(deployed, attacks(deployed))
    assert {name: codes for name, codes in answers.items() if codes != [403]} == {}
    created = clean_engine.containers.list(all=True, filters={"name": NAMES.user_server(ATTACKER)})
    assert [c.name for c in created] == []
    assert clean_engine.volumes.list(filters={"name": NAMES.home_volume(ATTACKER)}) == []
    assert deployment_containers(clean_engine) == before  # hub, proxy and filter untouched


def test_an_allowed_create_is_what_the_filter_built_not_what_was_sent(
    deployed: Deployed, clean_engine: docker.DockerClient
) -> None:
    """The control: a create in DockerSpawner's shape passes, and the engine holds the pinned shape."""
    user = f"{ATTACKER}-control"
    body = spawner_body(deployed, user)
    answers = send_from_the_hub(deployed, {"control": create(user, json.dumps(body))})
    assert answers == {"control": [201]}
    created = clean_engine.containers.get(NAMES.user_server(user)).attrs
    host = created["HostConfig"]
    assert created["Config"]["User"] == "1000"
    assert created["Config"]["Image"] == body["Image"]
    assert (host["Privileged"], host["CapDrop"], host.get("CapAdd")) == (False, ["ALL"], None)
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Binds"] == [f"{NAMES.home_volume(user)}:/home/jovyan:rw"] and not host.get("Mounts")
    assert not host.get("PortBindings") and not host.get("PublishAllPorts") and not host.get("Devices")
    assert (host["PidMode"], host["IpcMode"], host["UsernsMode"]) == ("", "private", "")
    assert host["NetworkMode"] == E2E_NAME and set(created["NetworkSettings"]["Networks"]) == {E2E_NAME}
    assert (host["Memory"], host["CpuPeriod"], host["CpuQuota"], host["PidsLimit"]) == (1024**3, 100_000, 100_000, 1024)


def test_a_home_volume_of_another_deployment_is_refused_and_an_adopted_one_is_mounted_as_it_is(
    deployed: Deployed, clean_engine: docker.DockerClient
) -> None:
    """User `hub-data`'s home would be `jhe2e-home-hub-data`: deployment `jhe2e-home`'s hub database."""
    victim, adopted, bound = "hub-data", f"{ATTACKER}-adopted", f"{ATTACKER}-bound"
    foreign = clean_engine.volumes.create(
        NAMES.home_volume(victim), labels={DEPLOYMENT_LABEL: f"{E2E_NAME}-home", HARNESS_LABEL: "1"}
    )
    kept = clean_engine.volumes.create(NAMES.home_volume(adopted))  # an old deployment's: no labels
    # No label, as an adopted home has, but bind options: it would mount the host's /etc as a home.
    bind = clean_engine.volumes.create(NAMES.home_volume(bound), driver_opts={"type": "none", "o": "bind", "device": "/etc"})
    try:
        answers = send_from_the_hub(
            deployed,
            {
                "another deployment's volume": create(victim, json.dumps(spawner_body(deployed, victim))),
                "a bind volume": create(bound, json.dumps(spawner_body(deployed, bound))),
                "an adopted volume": create(adopted, json.dumps(spawner_body(deployed, adopted))),
            },
        )
        assert answers == {"another deployment's volume": [403], "a bind volume": [403], "an adopted volume": [201]}
        for refused in (victim, bound):
            assert clean_engine.containers.list(all=True, filters={"name": NAMES.user_server(refused)}) == []
        mounted = clean_engine.containers.get(NAMES.user_server(adopted)).attrs["HostConfig"]["Binds"]
        assert mounted == [f"{NAMES.home_volume(adopted)}:/home/jovyan:rw"]
        assert clean_engine.volumes.get(kept.name).attrs["Labels"] in (None, {})  # kept as it was
    finally:
        for container in clean_engine.containers.list(all=True, filters={"name": NAMES.user_server(adopted)}):
            container.remove(force=True)
        foreign.remove(force=True)
        kept.remove(force=True)
        bind.remove(force=True)


def test_a_volume_claimed_for_a_future_deployment_stops_that_deployment_before_it_starts(
    deployed: Deployed, clean_engine: docker.DockerClient
) -> None:
    """From the review: user `hub-data` gets the home `jhe2e-home-hub-data` before a deployment `jhe2e-home` exists.
    The filter cannot know; the later deployment's pre-flight finds the volume labelled for jhe2e and stops."""
    claimer = "hub-data"
    try:
        answers = send_from_the_hub(deployed, {"claim": create(claimer, json.dumps(spawner_body(deployed, claimer)))})
        assert answers == {"claim": [201]}
        claimed = clean_engine.volumes.get(NAMES.home_volume(claimer))
        assert claimed.attrs["Labels"] == {DEPLOYMENT_LABEL: E2E_NAME}
        with pytest.raises(ConfigError, match=f"volume {E2E_NAME}-home-hub-data belongs to deployment {E2E_NAME}"):
            check_neighbours(DeploymentNames(f"{E2E_NAME}-home"))
    finally:
        for container in clean_engine.containers.list(all=True, filters={"name": NAMES.user_server(claimer)}):
            container.remove(force=True)
        for volume in clean_engine.volumes.list(filters={"name": NAMES.home_volume(claimer)}):
            volume.remove(force=True)


def test_another_deployments_container_answers_as_a_missing_one(deployed: Deployed, clean_engine: docker.DockerClient) -> None:
    """A container named as one of this deployment's users' servers but labelled for another deployment:
    the hub gets the engine's own "no such container", as for a name nobody has."""
    ghost, nobody = NAMES.user_server(f"{ATTACKER}-ghost"), NAMES.user_server(f"{ATTACKER}-nobody")
    other = clean_engine.containers.create(
        "debian:trixie-slim", ["true"], name=ghost, labels={DEPLOYMENT_LABEL: "another", HARNESS_LABEL: "1"}
    )
    try:
        requests = {name: http("GET", f"/v1.41/containers/{name}/json") for name in (ghost, nobody)}
        answers = raw_answers_from_the_hub(deployed.client, NAMES, requests)
        bodies = {name: json.loads(answer["text"].split("\r\n\r\n", 1)[1]) for name, answer in answers.items()}
        assert (answers[ghost]["codes"], answers[nobody]["codes"]) == ([404], [404]), answers
        assert bodies == {ghost: {"message": f"No such container: {ghost}"}, nobody: {"message": f"No such container: {nobody}"}}
        stop = raw_answers_from_the_hub(deployed.client, NAMES, {"stop": http("POST", f"/v1.41/containers/{ghost}/stop")})
        assert stop["stop"]["codes"] == [404] and clean_engine.containers.get(other.id).status == "created"
    finally:
        other.remove(force=True)
