"""Every name a deployment gives things comes from one place, and two deployments never share one."""

from __future__ import annotations

import re

import pytest

from components import names
from components.names import DeploymentNames


def test_every_name_of_a_deployment() -> None:
    hub = DeploymentNames("hub-dev")
    assert hub.labels == {"org.jupyterhub-docker.deployment": "hub-dev"}
    assert (hub.network, hub.docker_api_network) == ("hub-dev", "hub-dev-docker-api")
    assert (hub.proxy_container, hub.hub_container, hub.docker_api_container) == (
        "hub-dev-proxy",
        "hub-dev-hub",
        "hub-dev-docker-api",
    )
    assert hub.hub_data_volume == "hub-dev-hub-data"
    assert hub.image("notebook", "0123456789ab") == "hub-dev-notebook:0123456789ab"
    assert (hub.user_server_template, hub.home_volume_template) == ("jupyter-hub-dev_{username}", "hub-dev-home-{username}")
    assert (hub.user_server("ada"), hub.home_volume("ada")) == ("jupyter-hub-dev_ada", "hub-dev-home-ada")
    assert (hub.hub_url, hub.proxy_api_url, hub.docker_api_url) == (
        "http://hub-dev-hub:8081",
        "http://hub-dev-proxy:8001",
        "tcp://hub-dev-docker-api:2375",
    )


def test_the_paths_and_ports_the_processes_share() -> None:
    assert (names.HUB_CONFIG_PATH, names.HUB_CONFIG_DIR, names.HUB_SETTINGS_PATH) == (
        "/etc/jupyterhub/jupyterhub_config.py",
        "/etc/jupyterhub/jupyterhub_config.d",
        "/etc/jupyterhub/settings.json",
    )
    assert (names.HUB_SETTINGS_ENV, names.HUB_DATA_DIR, names.HUB_PORT) == ("JUPYTERHUB_DOCKER_SETTINGS", "/srv/jupyterhub", 8081)
    assert (names.PROXY_PORT, names.PROXY_API_PORT) == (8000, 8001)
    assert (names.TLS_HTTPS_PORT, names.TLS_HTTP_PORT, names.TLS_DATA_DIR) == (8443, 8080, "/data")
    assert (names.FILTER_PORT, names.FILTER_POLICY_PATH, names.DOCKER_SOCKET) == (
        2375,
        "/etc/docker-api-filter/policy.json",
        "/var/run/docker.sock",
    )
    assert (names.NOTEBOOK_UID, names.NOTEBOOK_HOME, names.NOTEBOOK_PORT) == ("1000", "/home/jovyan", 8888)


ESCAPED_USERS = ["ada", "a-2eb", "0", "bob-5fx"]  # DockerSpawner's escape: [a-z0-9], '-' escaping the rest


@pytest.mark.parametrize(("first", "second"), [("a", "a-b"), ("a_b", "a"), ("hub", "hub-dev"), ("x.y", "x")])
def test_two_deployments_never_share_a_user_server_or_home_volume_name(first: str, second: str) -> None:
    mine, theirs = DeploymentNames(first), DeploymentNames(second)
    for user in ESCAPED_USERS:
        for other_user in ESCAPED_USERS:
            assert mine.user_server(user) != theirs.user_server(other_user)
    # The user part never holds '_', so the last '_' splits deployment and user.
    for user in ESCAPED_USERS:
        deployment, _, parsed_user = mine.user_server(user).removeprefix("jupyter-").rpartition("_")
        assert (deployment, parsed_user) == (first, user)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9_.-]+", mine.user_server(user)) for user in ESCAPED_USERS)  # Docker's name rule


def test_an_adopted_home_volume_scheme_replaces_the_default_and_is_read_both_ends() -> None:
    adopted = DeploymentNames("hub", "jupyterhub-user-{username}")
    assert (adopted.home_volume_template, adopted.home_volume("ada")) == ("jupyterhub-user-{username}", "jupyterhub-user-ada")
    assert adopted.hub_data_volume == "hub-hub-data"
    assert [adopted.is_home_volume(v) for v in ("jupyterhub-user-ada", "jupyterhub-user-", "jupyterhub-user-a_b")] == [
        True,
        False,
        False,
    ]
    suffixed = DeploymentNames("hub", "{username}.home")
    assert [suffixed.is_home_volume(v) for v in ("ada.home", "ada.homex", ".home", "x-ada.home")] == [True, False, False, True]
    assert DeploymentNames("hub").is_home_volume("hub-home-ada") and not DeploymentNames("hub").is_home_volume("hub-hub-data")


def test_the_image_roles_are_the_images_a_deployment_builds() -> None:
    from components.config import parse_config
    from components.images import image_builds

    raw = {
        "backup": {"enabled": True, "repository": "/b"},
        "metrics": {"enabled": True, "prometheus": True},
        "tls": {"mode": "acme", "acmeEmail": "ops@example.org"},
        "publicHost": "hub.example.org",
    }
    everything = parse_config(raw, {"backupPassword": "x"})  # type: ignore[dict-item]
    assert tuple(image_builds(everything, "")) == names.IMAGE_ROLES


def test_each_image_builds_from_its_folder_with_only_the_args_it_uses() -> None:
    from components.config import parse_config
    from components.images import image_builds

    raw = {
        "backup": {"enabled": True, "repository": "/b"},
        "metrics": {"enabled": True, "prometheus": True},
        "tls": {"mode": "acme", "acmeEmail": "ops@example.org"},
        "publicHost": "hub.example.org",
        "build": {"baseImage": "base:1", "pipIndexUrl": "https://pypi.example/simple", "npmRegistry": "https://npm.example/"},
    }
    builds = image_builds(parse_config(raw, {"backupPassword": "x"}), "CA PEM")  # type: ignore[dict-item]
    base, owner, ca = {"BASE_IMAGE": "base:1"}, {"DEPLOYMENT": "jupyterhub"}, {"EXTRA_CA_CERTS": "CA PEM"}
    assert {role: (build.context_dir, build.all_build_args) for role, build in builds.items()} == {
        "proxy": ("build.proxy", {**base, **ca, **owner, "NPM_CONFIG_REGISTRY": "https://npm.example/"}),
        "hub": ("hub_config", {**base, **ca, **owner, "PIP_INDEX_URL": "https://pypi.example/simple"}),
        "notebook": ("build.notebook", {**base, **ca, **owner, "PIP_INDEX_URL": "https://pypi.example/simple"}),
        "docker-api": ("docker_api_proxy", {**base, **owner}),
        "backup": ("build.backup", {**base, **ca, **owner}),
        "prometheus": ("build.prometheus", {**base, **owner}),
        "tls": ("build.tls", {**base, **owner}),
    }
