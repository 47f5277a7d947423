"""A publicPort held by something else is refused before the proxy is replaced."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pulumi
import pytest

from components import public_port
from components.config import ConfigError


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
    public_port.check_public_port("127.0.0.1", free, "jh-proxy")


def test_a_port_held_by_a_host_process_is_refused(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: set())
    with pytest.raises(ConfigError, match=rf"'publicPort' = {busy_port}: already in use on 127.0.0.1 by a process on this host"):
        public_port.check_public_port("127.0.0.1", busy_port, "jh-proxy")


def test_a_port_held_by_another_container_is_refused_naming_it(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: {"grafana"})
    with pytest.raises(ConfigError, match=r"already in use on 127.0.0.1 by grafana\. .*pulumi config set publicPort"):
        public_port.check_public_port("127.0.0.1", busy_port, "jh-proxy")


def test_our_own_proxy_holding_the_port_is_a_redeploy(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: {"jh-proxy"})
    public_port.check_public_port("127.0.0.1", busy_port, "jh-proxy")


def test_a_busy_redirect_port_is_named_as_such(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(public_port, "_port_holders", lambda port: set())
    with pytest.raises(ConfigError, match=rf"'httpRedirectPort' = {busy_port}: .*pulumi config set httpRedirectPort"):
        public_port.check_public_port("127.0.0.1", busy_port, "jh-proxy", "httpRedirectPort")


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
        public_port.check_public_port("127.0.0.1", busy_port, "jh-proxy")
    finally:
        pulumi.runtime.set_all_config({})


def test_a_local_docker_host_in_stack_config_is_checked(busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    pulumi.runtime.set_all_config({"docker:host": "unix:///var/run/docker.sock"})
    monkeypatch.setenv("DOCKER_HOST", "ssh://elsewhere")
    monkeypatch.setattr(public_port, "_port_holders", lambda port: {"grafana"})
    try:
        with pytest.raises(ConfigError, match="by grafana"):
            public_port.check_public_port("127.0.0.1", busy_port, "jh-proxy")
    finally:
        pulumi.runtime.set_all_config({})
