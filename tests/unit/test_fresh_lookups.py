"""hub_config/fresh_lookups.py: the hub's own HTTP client asks the system resolver at every
connection, so a server made again on another address is found there."""

from __future__ import annotations

import asyncio
import runpy
import socket
import sys
from typing import Any

import pytest
from traitlets.config import Config

from testkit.program_runner import REPO_ROOT
from tests.unit.hub_modules import hub_module

fresh_lookups = hub_module("fresh_lookups")
look_names_up_afresh = runpy.run_path(str(REPO_ROOT / "hub_config" / "jupyterhub_config.py"))["look_names_up_afresh"]


def test_each_lookup_asks_the_system_resolver_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Docker's DNS moved the name to another container between two connections."""
    answers = iter(["192.168.128.5", "192.168.128.6"])

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        assert host == "jupyter-hub_ada"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    async def twice() -> list[str]:
        resolver = fresh_lookups.SystemResolver()  # made before the loop runs, as the config makes it
        first = await resolver.resolve("jupyter-hub_ada", 8888)
        second = await resolver.resolve("jupyter-hub_ada", 8888)
        await resolver.close()
        return [first[0]["host"], second[0]["host"]]

    assert asyncio.run(twice()) == ["192.168.128.5", "192.168.128.6"]


def test_jupyterhub_6s_client_gets_the_system_resolver_and_no_cache_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fresh_lookups", fresh_lookups)  # as the hub image's path has it
    c = Config()
    look_names_up_afresh(c, (6, 1, 1))
    options = c.JupyterHubHTTPClient.connector_options
    assert isinstance(options["resolver"], fresh_lookups.SystemResolver) and options["use_dns_cache"] is False
    earlier = Config()
    look_names_up_afresh(earlier, (5, 5, 1))  # JupyterHub 5 makes its requests with tornado, no c-ares
    assert "JupyterHubHTTPClient" not in earlier
