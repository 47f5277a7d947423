"""Bad input that only the engine can refuse: the apply fails and the running hub is untouched."""

from __future__ import annotations

import socket

import pytest

from components.config import ConfigError
from testkit.endpoints import free_loopback_port
from testkit.harness import CONTAINER, ApplyError
from tests.e2e.deployed import NAMES, Deployed

# A registry on a closed loopback port: the image is absent and cannot be pulled.
UNPULLABLE = "127.0.0.1:9/no-such-image:1"


def hub_state(deployed: Deployed) -> tuple[str, str]:
    hub = deployed.client.containers.get(NAMES.hub_container)
    return hub.id, hub.attrs["State"]["StartedAt"]


@pytest.mark.parametrize(
    ("setting", "resource"),
    [
        ({"build": '{"baseImage": "' + UNPULLABLE + '", "extraCaCertsPath": "/usr/local/share/ca-certificates"}'}, "base-image"),
        ({"notebookRollbackImage": UNPULLABLE}, "notebook-rollback-image"),
        ({"spawner": '{"profiles": [{"name": "gpu", "image": "' + UNPULLABLE + '"}]}'}, "image-gpu"),
    ],
)
def test_a_missing_image_fails_the_apply_before_the_hub_is_touched(
    deployed: Deployed, setting: dict[str, str], resource: str
) -> None:
    before = hub_state(deployed)
    with pytest.raises(ApplyError, match=rf"RemoteImage {resource}: .*unable to pull image {UNPULLABLE}"):
        deployed.harness.up(setting)
    assert hub_state(deployed) == before
    deployed.apply()  # the good config applies again
    assert hub_state(deployed) == before, "nothing changed, so nothing is replaced"


def test_a_public_port_in_use_is_refused_before_the_proxy_is_touched(deployed: Deployed) -> None:
    proxy = deployed.client.containers.get(NAMES.proxy_container)
    before = hub_state(deployed)
    with socket.socket() as squatter:
        port = free_loopback_port()
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(ConfigError, match=rf"'publicPort' = {port}: already in use on 127.0.0.1"):
            deployed.harness.up({"publicPort": str(port)})
    assert deployed.client.containers.get(NAMES.proxy_container).id == proxy.id
    assert hub_state(deployed) == before


def test_a_hub_that_does_not_become_healthy_fails_the_apply_and_a_revert_brings_it_back(deployed: Deployed) -> None:
    """A config that passes the pre-flight load but crashes the real hub: `pulumi up` waits
    for the new hub's health check and fails; the old hub is gone (replaced first). The
    way back is to revert the change and apply again."""
    config_file = deployed.project_dir / "hub_config" / "jupyterhub_config.py"
    good = config_file.read_text()
    config_file.write_text(good + "\nget_config().JupyterHub.spawner_class = 'no_such_module.Spawner'  # broken on purpose\n")
    try:
        with pytest.raises(ApplyError, match="Container hub: container failed to be in healthy state"):
            deployed.harness.up()
        hub = deployed.client.containers.get(NAMES.hub_container)
        assert hub.attrs["State"]["Health"]["Status"] != "healthy"
        assert "no_such_module" in hub.logs(tail=50).decode(errors="replace")
    finally:
        config_file.write_text(good)
    applied = deployed.apply()
    assert applied.action(CONTAINER, "hub") == "replace"
    assert deployed.client.containers.get(NAMES.hub_container).attrs["State"]["Health"]["Status"] == "healthy"
