"""Another deployment on the engine never shares a volume name with this one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from components import neighbours
from components.config import ConfigError
from components.names import LABEL, DeploymentNames
from components.neighbours import check_neighbours, overlapping, refuse_claimed_names


@pytest.mark.parametrize(
    ("ours", "other", "overlap"),
    [
        ("a", "a-home", True),  # a's user hub-data: a-home-hub-data, a-home's database
        ("a-home", "a", True),
        ("a", "a-home-x", True),  # a's user x-home-bob is a-home-x's bob
        ("a", "a-hom", False),
        ("a", "ab", False),
        ("a", "a-hub", False),
        ("jhe2e", "jhe2e-upgrade", False),
        ("a-b", "a", False),
    ],
)
def test_deployments_whose_names_can_run_into_each_other(ours: str, other: str, overlap: bool) -> None:
    assert overlapping(DeploymentNames(ours), other) is overlap


def test_a_custom_home_scheme_is_compared_too() -> None:
    assert overlapping(DeploymentNames("new", "jupyterhub-user-{username}"), "jupyterhub-user") is True
    assert overlapping(DeploymentNames("new", "jupyterhub-user-{username}"), "old") is False


def test_a_volume_this_deployment_uses_that_another_one_labelled_is_refused() -> None:
    names = DeploymentNames("b")
    with pytest.raises(ConfigError, match=r"volume b-hub-data belongs to deployment a, and this deployment would use it"):
        refuse_claimed_names(names, {"b-hub-data": "a"}, {"a"})
    with pytest.raises(ConfigError, match=r"volume b-home-ada belongs to deployment x"):
        refuse_claimed_names(names, {"b-home-ada": "x"}, {"x"})
    refuse_claimed_names(names, {"b-hub-data": "b", "b-home-ada": "b", "a-home-ada": "a"}, {"a", "b"})
    with pytest.raises(ConfigError, match=r"deployment b-home on this engine can name volumes this one uses"):
        refuse_claimed_names(names, {}, {"b-home"})


class Engine:
    def __init__(
        self,
        volumes: dict[str, dict[str, str] | None],
        containers: list[dict[str, str]],
        services: list[dict[str, str]] | None = None,  # None: not a Swarm manager
    ) -> None:
        self.volumes = SimpleNamespace(
            list=lambda filters: [SimpleNamespace(name=n, attrs={"Labels": labels}) for n, labels in volumes.items()]
        )
        self.containers = SimpleNamespace(list=lambda all, filters: [SimpleNamespace(labels=c) for c in containers])
        self.services = SimpleNamespace(list=lambda filters: self._services(services, filters))

    @staticmethod
    def _services(services: list[dict[str, str]] | None, filters: dict[str, str]) -> list[SimpleNamespace]:
        assert filters == {"label": LABEL}
        if services is None:
            raise docker.errors.APIError("503 Server Error: This node is not a swarm manager.")
        return [SimpleNamespace(attrs={"Spec": {"Labels": labels}}) for labels in services]


def test_the_engine_is_asked_by_label(monkeypatch: pytest.MonkeyPatch) -> None:
    engine: Any = Engine({"a-home-hub-data": {LABEL: "a"}}, [{LABEL: "c"}])
    monkeypatch.setattr(neighbours.docker, "DockerClient", lambda **kwargs: engine)
    with pytest.raises(ConfigError, match="volume a-home-hub-data belongs to deployment a"):
        check_neighbours(DeploymentNames("a-home"))
    with pytest.raises(ConfigError, match="deployment c on this engine"):
        check_neighbours(DeploymentNames("c-home"))
    check_neighbours(DeploymentNames("d"))


def test_on_a_swarm_manager_deployments_with_services_on_the_workers_count_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Their homes are volumes on the workers: the manager's own volumes and containers do not show them."""
    engine: Any = Engine({}, [], services=[{LABEL: "w"}, {}])
    monkeypatch.setattr(neighbours.docker, "DockerClient", lambda **kwargs: engine)
    with pytest.raises(ConfigError, match="deployment w on this engine can name volumes this one uses"):
        check_neighbours(DeploymentNames("w-home"))
    check_neighbours(DeploymentNames("v"))
