"""A user signs up with the native authenticator, starts a server and runs code."""

from __future__ import annotations

from testkit.hub_user import HubUser, user_with_a_server
from tests.e2e.deployed import E2E_NAME, NAMES, Deployed, measure


def test_user_server_runs_the_built_notebook_image_on_the_network(deployed: Deployed, alice: HubUser) -> None:
    container = deployed.client.containers.get(NAMES.user_server("alice"))
    notebook_image = deployed.first_apply.run.exports["notebookImage"]
    assert container.status == "running"
    assert container.attrs["Config"]["Image"] == notebook_image
    assert container.image.id == deployed.client.images.get(notebook_image).id
    assert list(container.attrs["NetworkSettings"]["Networks"]) == [E2E_NAME]
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert mounts["/home/jovyan"]["Type"] == "volume"
    assert mounts["/home/jovyan"]["Name"] == NAMES.home_volume("alice")
    # The filter made the home volume with the deployment's label, so a backup finds it by label.
    assert deployed.client.volumes.get(NAMES.home_volume("alice")).attrs["Labels"] == NAMES.labels


def test_user_container_has_limits_and_no_host_access(deployed: Deployed, alice: HubUser) -> None:
    host_config = deployed.client.containers.get(NAMES.user_server("alice")).attrs["HostConfig"]
    assert host_config["Memory"] == 1024**3
    assert host_config["CpuQuota"] / host_config["CpuPeriod"] == 1.0
    assert not host_config["Privileged"]
    assert not host_config["PortBindings"]
    assert not host_config["CapAdd"]
    assert (host_config["CapDrop"], host_config["SecurityOpt"], host_config["PidsLimit"]) == (
        ["ALL"],
        ["no-new-privileges"],
        4096,
    )
    assert host_config["Binds"] == [f"{NAMES.home_volume('alice')}:/home/jovyan:rw"]
    container = deployed.client.containers.get(NAMES.user_server("alice"))
    assert container.exec_run(["id", "-u"]).output.decode().strip() == "1000"
    # The server's own process: no capability in any set, and setuid programs (su, mount)
    # cannot raise privileges.
    status = dict(
        line.split(":\t", 1)
        for line in container.exec_run(["cat", "/proc/1/status"]).output.decode().splitlines()
        if ":\t" in line
    )
    assert status["NoNewPrivs"] == "1"
    assert {status[key] for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")} == {"0000000000000000"}


def test_server_api_answers_through_the_proxy(alice: HubUser) -> None:
    status = alice.api("GET", "/user/alice/api/status")
    assert status.status_code == 200
    assert alice.model()["servers"][""]["ready"] is True


def test_a_kernel_executes_code(alice: HubUser) -> None:
    assert alice.run_code("1+1") == "2"


def test_a_user_cannot_reach_the_docker_api_proxy(deployed: Deployed, alice: HubUser) -> None:
    probe = f"import socket; socket.create_connection(({E2E_NAME + '-docker-api'!r}, 2375), timeout=3)"
    result = deployed.client.containers.get(NAMES.user_server("alice")).exec_run(["python3", "-c", probe])
    assert result.exit_code != 0
    assert b"Name or service not known" in result.output or b"timed out" in result.output, result.output


def test_server_runs_only_the_extensions_users_need(alice: HubUser) -> None:
    """Terminals and JupyterLab are served; jupyter-lsp (no language servers in the
    image) is not, and JupyterLab's extension manager is read-only (the image is root's)."""
    assert alice.api("GET", "/user/alice/api/terminals").status_code == 200
    assert alice.api("GET", "/user/alice/lsp/status").status_code == 404
    install = alice.api("POST", "/user/alice/lab/api/extensions", json={"cmd": "install", "extension_name": "jupyterlab-git"})
    assert install.status_code == 422, install.text
    assert "was blocked" in install.json()["message"]


def test_every_container_of_the_deployment_keeps_bounded_logs(deployed: Deployed, alice: HubUser) -> None:
    """Docker's default json-file driver grows without limit: each container, user servers too, rotates its log."""
    bounded = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    names = [NAMES.proxy_container, NAMES.hub_container, NAMES.docker_api_container, NAMES.user_server("alice")]
    for name in names:
        assert deployed.client.containers.get(name).attrs["HostConfig"]["LogConfig"] == bounded, name


def test_jupyterlab_fetches_no_news_and_asks_nobody_about_it(alice: HubUser) -> None:
    response = alice.api("GET", "/user/alice/lab/api/settings/@jupyterlab/apputils-extension:notification")
    assert response.status_code == 200, response.text
    # The server applies overrides.json to the plugin's defaults; alice has set nothing of her own.
    defaults = response.json()["schema"]["properties"]
    assert (defaults["fetchNews"]["default"], defaults["checkForUpdates"]["default"]) == ("false", False)
    assert "fetchNews" not in response.json()["settings"]


def test_a_server_made_again_on_another_address_is_found_there(deployed: Deployed) -> None:
    """Between a user's two servers another container takes the first one's address (Docker
    gives the lowest free one): the hub must look the name up afresh (hub_config/fresh_lookups.py),
    not keep Docker's 600 s answer, or the second spawn fails after 120 s ("never showed up")."""
    grace = user_with_a_server(deployed.base_url, "grace")
    first_address = container_address(deployed, NAMES.user_server("grace"))
    grace.stop_server()
    squatter = deployed.client.containers.run(
        "debian:trixie-slim", ["sleep", "300"], name=f"{E2E_NAME}-test-squatter", labels=NAMES.labels,
        network=E2E_NAME, detach=True,
    )  # fmt: skip
    try:
        assert container_address(deployed, squatter.name) == first_address, "the engine did not reuse the address"
        spawn_s = grace.start_server(timeout_s=60)
        assert container_address(deployed, NAMES.user_server("grace")) != first_address
        measure(f"a server made again on another address answered in {spawn_s:.2f}s")
    finally:
        squatter.remove(force=True)
        grace.stop_server()


def container_address(deployed: Deployed, name: str) -> str:
    return str(deployed.client.containers.get(name).attrs["NetworkSettings"]["Networks"][E2E_NAME]["IPAddress"])
