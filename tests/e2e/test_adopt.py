"""Coming from docker-compose: an old deployment's users keep passwords, tokens, logins and files.

The old deployment is built the way its operators run it: a hub container (JupyterHub,
DockerSpawner on the Docker socket, NativeAuthenticator, database and cookie secret in
a `/data` volume), configurable-http-proxy in a container of its own, and homes in
`jupyterhub-user-{username}` volumes. Two users sign up there, one keeps an API token,
both write files. Then `admin.adopt` and the first `pulumi up` of a new deployment.
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from admin.hub_database import HUB_HEAD, REVISIONS
from testkit.endpoints import free_loopback_port, wait_for
from testkit.harness import HARNESS_LABEL, IMAGE, build_image
from testkit.hub_user import HubUser
from testkit.program_runner import REPO_ROOT
from tests.e2e.deployed import JUPYTERHUB_5_HUB, Deployed, admin_command, deployment, measure, use_hub_pins

OLD = "jhe2e-old"
OLD_LABELS = {HARNESS_LABEL: "1", "org.jupyterhub-docker.e2e-old": OLD}
OLD_HOMES = "jupyterhub-user-{username}"
OLD_HUB_IMAGE = f"{OLD}-hub:5.5.1"
# Names with a '-' to be escaped: their homes are jupyterhub-user-adopt-2dcarol and -2ddave.
USERS = ("adopt-carol", "adopt-dave")
OLD_HUB_CONFIG = """
import json, os
c = get_config()  # noqa: F821
c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = os.environ["NOTEBOOK_IMAGE"]
c.DockerSpawner.network_name = os.environ["NETWORK"]
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.notebook_dir = "/home/jovyan"
c.DockerSpawner.volumes = {"jupyterhub-user-{username}": "/home/jovyan"}
c.DockerSpawner.remove = True
c.DockerSpawner.extra_create_kwargs = {"labels": json.loads(os.environ["LABELS"])}
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.hub_connect_ip = os.environ["HUB_NAME"]
c.JupyterHub.cookie_secret_file = "/data/jupyterhub_cookie_secret"
c.JupyterHub.db_url = "sqlite:////data/jupyterhub.sqlite"
c.JupyterHub.authenticator_class = "nativeauthenticator.NativeAuthenticator"
c.NativeAuthenticator.open_signup = True
c.Authenticator.allow_all = True
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = os.environ["PROXY_API_URL"]
c.JupyterHub.cleanup_servers = False
"""
FINGERPRINT = """
import hashlib, json, os
print(json.dumps({name: [hashlib.sha256(open("/data/" + name, "rb").read()).hexdigest(), os.stat("/data/" + name).st_mtime_ns]
                  for name in sorted(os.listdir("/data"))}))
"""


@dataclass
class OldUser:
    hub_user: HubUser
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.hub_user.name


@dataclass
class OldDeployment:
    base_url: str
    data_volume: str
    hub_image: str
    users: list[OldUser]


def remove_old(client: docker.DockerClient) -> None:
    for container in client.containers.list(all=True, filters={"label": f"org.jupyterhub-docker.e2e-old={OLD}"}):
        container.remove(force=True)
    for volume in client.volumes.list():
        if volume.name.startswith(f"{OLD}-") or volume.name in {
            OLD_HOMES.format(username=u) for u in ("adopt-2dcarol", "adopt-2ddave")
        }:
            volume.remove(force=True)
    for network in client.networks.list(names=[OLD], filters={"label": HARNESS_LABEL}):
        network.remove()
    for image in client.images.list(filters={"label": f"org.jupyterhub-docker.e2e-old={OLD}"}):
        client.images.remove(image.id, force=True)


def start_old_deployment(client: docker.DockerClient, images: dict[str, str]) -> str:
    token = secrets.token_hex(32)
    client.networks.create(OLD, labels=OLD_LABELS)
    client.volumes.create(f"{OLD}-data", labels=OLD_LABELS)
    port = free_loopback_port()
    client.containers.run(
        images["proxyImage"],
        [
            "--ip=",
            "--port=8000",
            "--api-ip=",
            "--api-port=8001",
            f"--default-target=http://{OLD}-hub:8081",
            f"--error-target=http://{OLD}-hub:8081/hub/error",
        ],
        name=f"{OLD}-proxy",
        environment={"CONFIGPROXY_AUTH_TOKEN": token},
        network=OLD,
        ports={"8000/tcp": ("127.0.0.1", port)},
        labels=OLD_LABELS,
        detach=True,
    )
    hub = client.containers.create(
        images["hubImage"],
        ["jupyterhub", "-f", "/srv/jupyterhub/old_config.py"],
        name=f"{OLD}-hub",
        environment={
            "CONFIGPROXY_AUTH_TOKEN": token,
            "NOTEBOOK_IMAGE": images["notebookImage"],
            "NETWORK": OLD,
            "HUB_NAME": f"{OLD}-hub",
            "PROXY_API_URL": f"http://{OLD}-proxy:8001",
            "LABELS": json.dumps(OLD_LABELS),
        },
        network=OLD,
        volumes={
            f"{OLD}-data": {"bind": "/data", "mode": "rw"},
            "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
        },
        labels=OLD_LABELS,
    )
    config = OLD_HUB_CONFIG.encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        entry = tarfile.TarInfo("old_config.py")
        entry.size = len(config)
        tar.addfile(entry, io.BytesIO(config))
    hub.put_archive("/srv/jupyterhub", archive.getvalue())
    hub.start()
    base_url = f"http://127.0.0.1:{port}"
    wait_for(f"{base_url}/hub/api/", 90)
    return base_url


def build_old_hub(deployed: Deployed, scratch: Path) -> str:
    """The hub compose deployments ran before JupyterHub 6: the hub image built from
    tests/e2e/hub-5.5.1's lock (stock NativeAuthenticator 1.3.0 logs in there)."""
    context = scratch / "hub_config"
    shutil.copytree(REPO_ROOT / "hub_config", context)
    use_hub_pins(context, JUPYTERHUB_5_HUB)
    build_args = deployed.first_apply.run.get(IMAGE, "hub-image").inputs["build"]["args"]
    build_image(context, "Dockerfile", OLD_HUB_IMAGE, build_args, None, OLD_LABELS)
    return OLD_HUB_IMAGE


@pytest.fixture(scope="module")
def old_deployment(
    engine: docker.DockerClient, deployed: Deployed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OldDeployment]:
    """The old deployment on JupyterHub 5.5.1, with two users who wrote files; its proxy and
    notebook images are the ones the shared deployment built."""
    images = {key: deployed.first_apply.run.exports[key] for key in ("proxyImage", "notebookImage")}
    remove_old(engine)
    try:
        images["hubImage"] = build_old_hub(deployed, tmp_path_factory.mktemp("adopt-old-hub"))
        base_url = start_old_deployment(engine, images)
        users = []
        for name in USERS:
            hub_user = HubUser(base_url, name, f"{name}-old-password")
            hub_user.sign_up()
            hub_user.log_in()  # also makes the API token the test keeps
            hub_user.start_server()
            user = OldUser(hub_user, {"notes.txt": f"{name}'s notes\n".encode(), "data.bin": secrets.token_bytes(200_000)})
            for file_name, content in user.files.items():
                hub_user.write_file(file_name, content)
            users.append(user)
        yield OldDeployment(base_url, f"{OLD}-data", images["hubImage"], users)
    finally:
        remove_old(engine)


def fingerprint(client: docker.DockerClient, image: str, volume: str) -> dict[str, list[object]]:
    output = client.containers.run(
        image, ["python3", "-c", FINGERPRINT], volumes={volume: {"bind": "/data", "mode": "ro"}}, remove=True, labels=OLD_LABELS
    )
    result: dict[str, list[object]] = json.loads(output)
    return result


def adopt(project_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return admin_command(project_dir, "admin.adopt", "--from-volume", f"{OLD}-data", *options)


def test_an_adopted_deployment_keeps_passwords_tokens_logins_and_files(
    engine: docker.DockerClient, old_deployment: OldDeployment, tmp_path: Path
) -> None:
    old = old_deployment
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    seen: dict[str, object] = {}

    def adopt_before_first_up() -> None:
        refused = adopt(project_dir)
        assert refused.returncode == 2, refused
        assert f"{OLD}-hub (mounts the old hub's data: the old hub)" in refused.stderr
        assert "jupyter-adopt-2dcarol (a user server of the old deployment)" in refused.stderr
        assert "--stop-old" in refused.stderr
        # --stop-old stops the old hub and servers; this run then fails on a misnamed file, having written nothing.
        stopped = adopt(project_dir, "--stop-old", "--cookie-secret", "cookie_secret")
        assert stopped.returncode == 2 and "has no file cookie_secret. Fix: name it with --cookie-secret" in stopped.stderr
        assert f"stopped {OLD}-hub" in stopped.stdout
        assert engine.containers.get(f"{OLD}-hub").status == "exited"
        for name in ("jupyter-adopt-2dcarol", "jupyter-adopt-2ddave"):  # DockerSpawner's remove=True: auto-removed
            assert not engine.containers.list(filters={"name": f"^{name}$"}), name
        assert "jhe2e-adopt-hub-data" not in {v.name for v in engine.volumes.list()}
        engine.containers.get(f"{OLD}-proxy").stop()  # the rest of `docker compose stop`
        seen["before"] = fingerprint(engine, old.hub_image, old.data_volume)
        adopted = adopt(project_dir)
        assert adopted.returncode == 0, adopted.stderr
        seen["report"] = adopted.stdout
        again = adopt(project_dir)
        assert again.returncode == 2 and "jhe2e-adopt-hub-data already holds a hub database. Fix: --force" in again.stderr

    settings = {"spawner": {"memLimit": "1G", "cpuLimit": "1.0", "homeVolumeTemplate": OLD_HOMES}}
    with deployment(engine, project_dir, "jhe2e-adopt", settings, adopt_before_first_up) as new:
        report = str(seen["report"])
        assert "adopt: adopted into jhe2e-adopt-hub-data: 2 hub users (2 signed up with NativeAuthenticator passwords)" in report
        assert "cleared servers the old hub recorded as running: adopt-carol, adopt-dave" in report
        assert "homes: 2 of 2 users have a volume named jupyterhub-user-{username}" in report
        measure(f"adopted deployment: first deploy after the adoption {new.first_apply.seconds:.1f}s")
        for user in old.users:
            old_token, old_cookies = user.hub_user.token, user.hub_user.session.cookies
            again = HubUser(new.base_url, user.name, user.hub_user.password)
            again.log_in()  # the old password
            whoami = requests.get(f"{new.base_url}/hub/api/user", headers={"Authorization": f"token {old_token}"}, timeout=10)
            assert whoami.status_code == 200 and whoami.json()["name"] == user.name  # the old API token
            browser = requests.Session()
            for cookie in old_cookies:
                browser.cookies.set(cookie.name, cookie.value)
            home = browser.get(f"{new.base_url}/hub/home", timeout=10)
            assert home.status_code == 200 and home.url.endswith("/hub/home"), home.url  # the old login cookie
            assert again.model()["servers"] == {}  # no phantom server from the old database
            again.start_server()
            server = engine.containers.get(new.names.user_server(user.name.replace("-", "-2d")))
            assert server.attrs["HostConfig"]["Binds"] == [f"jupyterhub-user-{user.name.replace('-', '-2d')}:/home/jovyan:rw"]
            with_old_token = HubUser(new.base_url, user.name, "")
            with_old_token.token = old_token
            for file_name, content in user.files.items():
                assert with_old_token.read_file(file_name) == content, file_name
        assert fingerprint(engine, old.hub_image, old.data_volume) == seen["before"]  # the old data was only read
        for name in ("adopt-2dcarol", "adopt-2ddave"):
            assert engine.volumes.get(OLD_HOMES.format(username=name)).attrs["Labels"] in (None, {})


REVISION_CHAIN = """
import os, jupyterhub
from alembic.script import ScriptDirectory
scripts = ScriptDirectory(os.path.join(os.path.dirname(jupyterhub.__file__), "alembic"))
print(" ".join(reversed([revision.revision for revision in scripts.walk_revisions()])))
"""


def test_the_schema_revisions_adoption_knows_are_the_hub_images_own(deployed: Deployed) -> None:
    """admin/hub_database.py's chain up to HUB_HEAD is the pinned JupyterHub's: a new pin fails here until it is updated."""
    hub = deployed.client.containers.get(deployed.names.hub_container)
    result = hub.exec_run(["python3", "-c", REVISION_CHAIN])
    assert result.exit_code == 0, result.output.decode()
    assert tuple(result.output.decode().split()) == REVISIONS[: REVISIONS.index(HUB_HEAD) + 1]
