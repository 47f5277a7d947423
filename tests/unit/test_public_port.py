"""A publicPort held by something else is refused before the proxy is replaced."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pulumi
import pytest

from components import public_port
from components.config import ConfigError

OURS = ("jh-proxy", "jh-tls")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_free_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    public_port.check_public_port("127.0.0.1", free, OURS)


def test_a_port_held_by_a_host_process_is_refused(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: set())
    with pytest.raises(ConfigError, match=rf"'publicPort' = {busy_port}: already in use on 127.0.0.1 by a process on this host"):
        public_port.check_public_port("127.0.0.1", busy_port, OURS)


def test_a_port_held_by_another_container_is_refused_naming_it(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: {"grafana"})
    with pytest.raises(ConfigError, match=r"already in use on 127.0.0.1 by grafana\. .*pulumi config set publicPort"):
        public_port.check_public_port("127.0.0.1", busy_port, OURS)


@pytest.mark.parametrize("holders", [{"jh-proxy"}, {"jh-tls"}, {"jh-proxy", "jh-tls"}])
def test_our_own_proxy_or_terminator_holding_the_port_is_a_redeploy(
    busy_port: int, monkeypatch: pytest.MonkeyPatch, holders: set[str]
) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: holders)
    public_port.check_public_port("127.0.0.1", busy_port, OURS)


def test_ours_beside_another_container_is_refused_naming_the_other(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: {"jh-tls", "nginx"})
    with pytest.raises(ConfigError, match=r"already in use on 127.0.0.1 by nginx\. "):
        public_port.check_public_port("127.0.0.1", busy_port, OURS)


def test_the_terminator_leaving_with_tls_turned_off_must_not_hold_the_port(
    busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pulumi removes a resource the program no longer declares only at the end of the update."""
    monkeypatch.setattr(public_port, "_port_holders", lambda port: {"jh-tls"})
    refusal = r"held by jh-tls, .* Fix: turn TLS off on another port first \(pulumi config set publicPort"
    with pytest.raises(ConfigError, match=refusal):
        public_port.check_public_port("127.0.0.1", busy_port, ("jh-proxy",), leaving="jh-tls")
    monkeypatch.setattr(public_port, "_port_holders", lambda port: {"jh-proxy"})
    public_port.check_public_port("127.0.0.1", busy_port, ("jh-proxy",), leaving="jh-tls")


def test_a_busy_http_port_is_named_as_such(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: set())
    with pytest.raises(ConfigError, match=rf"'tls.httpPort' = {busy_port}: .*pulumi config set --path tls.httpPort"):
        public_port.check_public_port("127.0.0.1", busy_port, OURS, "tls.httpPort")


@pytest.mark.parametrize(
    ("stack_host", "environment_host"),
    [("ssh://admin@hub-host", None), ("tcp://10.0.0.5:2376", None), (None, "ssh://admin@hub-host")],
)
def test_the_check_asks_the_engine_the_provider_uses_and_skips_a_remote_one(
    busy_port: int, monkeypatch: pytest.MonkeyPatch, stack_host: str | None, environment_host: str | None
) -> None:
    """`docker:host` (the provider's own stack config) wins over DOCKER_HOST; a remote engine's
    host ports cannot be tried from here, so nothing is refused."""
    pulumi.runtime.set_all_config({"docker:host": stack_host} if stack_host else {})
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    if environment_host:
        monkeypatch.setenv("DOCKER_HOST", environment_host)
    monkeypatch.setattr(public_port, "_port_holders", lambda port: {"grafana"})
    try:
        assert public_port.provider_engine() == (stack_host or environment_host)
        public_port.check_public_port("127.0.0.1", busy_port, OURS)
    finally:
        pulumi.runtime.set_all_config({})


def test_a_local_docker_host_in_stack_config_is_checked(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    pulumi.runtime.set_all_config({"docker:host": "unix:///var/run/docker.sock"})
    monkeypatch.setenv("DOCKER_HOST", "ssh://elsewhere")
    monkeypatch.setattr(public_port, "_port_holders", lambda port: {"grafana"})
    try:
        with pytest.raises(ConfigError, match="by grafana"):
            public_port.check_public_port("127.0.0.1", busy_port, OURS)
    finally:
        pulumi.runtime.set_all_config({})


class FakeContainer:
    def __init__(self, name: str, bindings: dict | None):
        self.name, self.attrs = name, {"HostConfig": {"PortBindings": bindings}}


def fake_engine(monkeypatch: pytest.MonkeyPatch, containers: list[FakeContainer], asked: list[dict]) -> None:
    class Client:
        def __init__(self, **kwargs: object):
            asked.append(kwargs)
            self.containers = self

        def list(self) -> list[FakeContainer]:
            return containers

    monkeypatch.setattr(public_port.docker, "DockerClient", Client)


def test_the_engine_names_every_container_publishing_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[dict] = []
    containers = [
        FakeContainer("grafana", {"3000/tcp": [{"HostIp": "", "HostPort": "8000"}]}),
        FakeContainer("other-port", {"80/tcp": [{"HostIp": "", "HostPort": "18000"}]}),
        FakeContainer("no-ports", None),
        FakeContainer("unbound", {"81/tcp": None}),
        FakeContainer("two", {"1/tcp": [{"HostPort": "9"}, {"HostPort": "8000"}], "2/udp": [{}]}),
    ]
    fake_engine(monkeypatch, containers, asked)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert public_port._port_holders(8000) == {"grafana", "two"}
    assert asked == [{"base_url": "unix:///var/run/docker.sock", "timeout": 10}]


def test_the_error_lists_every_other_holder_and_the_fix(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: {"zeta", "jh-proxy", "alpha"})
    with pytest.raises(ConfigError) as error:
        public_port.check_public_port("127.0.0.1", busy_port, OURS)
    assert str(error.value) == (
        f"config 'publicPort' = {busy_port}: already in use on 127.0.0.1 by alpha, zeta. "
        "The running deployment is left as it is. Fix: pulumi config set publicPort <a free port>, or free the port"
    )


def test_an_engine_that_cannot_be_asked_only_warns(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(public_port.pulumi.log, "warn", warnings.append)

    def unreachable(port: int) -> set[str]:
        raise public_port.docker.errors.DockerException("connection refused")

    monkeypatch.setattr(public_port, "_port_holders", unreachable)
    public_port.check_public_port("127.0.0.1", busy_port, OURS)
    assert warnings == [f"publicPort {busy_port} is in use and the Docker engine could not be asked by whom: connection refused"]


def test_an_address_this_host_does_not_have_is_left_to_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: pytest.fail("only a busy port asks the engine"))
    public_port.check_public_port("192.0.2.1", 8000, OURS)  # EADDRNOTAVAIL, not EADDRINUSE


def test_a_busy_ipv6_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET6) as holder:
        holder.bind(("::1", 0))
        holder.listen()
        port = int(holder.getsockname()[1])
        monkeypatch.setattr(public_port, "_port_holders", lambda port: set())
        with pytest.raises(ConfigError, match=f"'publicPort' = {port}: already in use on ::1"):
            public_port.check_public_port("::1", port, OURS)


def test_a_port_left_in_time_wait_is_free() -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as every server does (node's included)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the server side closes first: its port enters TIME_WAIT
        client.close()
    public_port.check_public_port("127.0.0.1", port, OURS)
