"""Hub users driven over HTTP through the published port: sign-up, spawn, stop."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import docker
import requests

from bench.common import ADMIN, DEPLOYMENT_LABEL, USER_PREFIX
from testkit.endpoints import wait_until
from testkit.hub_user import HubUser

PASSWORD = "bench-password-1234"
STOP_WORKERS = 10
API_TIMEOUT_S = 60  # a POST may wait for the hub's slow_spawn_timeout (10 s), longer under load
READY_POLL_S = 0.05
STOP_TIMEOUT_S = 300
USER_CONTAINER_PREFIX = "jupyter-"


def user_names(count: int) -> list[str]:
    return [f"{USER_PREFIX}{index:02d}" for index in range(1, count + 1)]


class BenchUser(HubUser):
    """A HubUser whose login lands on /hub/home.

    HubUser.log_in follows JupyterHub's default post-login redirect (redirect_to_server)
    to /hub/spawn, which starts the user's server; the benchmark starts servers itself.
    """

    def log_in(self) -> None:
        response = self._form(f"/hub/login?next={quote('/hub/home')}", {"username": self.name, "password": self.password})
        response.raise_for_status()
        assert "/hub/login" not in response.url, f"login as {self.name} was refused"
        self.token = self._create_token()


def admin_signed_up(base_url: str) -> HubUser:
    """The dev stack's admin, signed up and logged in through the NativeAuthenticator forms."""
    admin = BenchUser(base_url, ADMIN, PASSWORD)
    admin.sign_up()
    admin.log_in()
    return admin


def users_created(admin: HubUser, names: Sequence[str]) -> list[HubUser]:
    """Users created by the admin through the REST API, each with its own API token.

    (A form sign-up and login costs two bcrypt hashes per user in the hub; 50 of them
    would take minutes on 2 cores and are not what this benchmark measures.)
    """
    response = _api(admin, "POST", "/hub/api/users", json={"usernames": list(names)}, timeout=API_TIMEOUT_S)
    assert response.status_code == 201, response.text
    users = []
    for name in names:
        token = _api(admin, "POST", f"/hub/api/users/{name}/tokens", json={"note": "bench", "expires_in": 7200}, timeout=30)
        assert token.status_code == 201, token.text
        user = HubUser(admin.base_url, name, PASSWORD)
        user.token = str(token.json()["token"])
        users.append(user)
    return users


def _api(user: HubUser, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"token {user.token}"}
    return requests.request(method, f"{user.base_url}{path}", headers=headers, **kwargs)


@dataclass
class Spawn:
    user: str
    ok: bool
    seconds: float
    detail: str = ""


def _await_ready_event(user: HubUser, deadline: float) -> str:
    """Follow the hub's spawn-progress event stream; '' once ready, else why not."""
    remaining = max(1.0, deadline - time.monotonic())
    path = f"/hub/api/users/{user.name}/server/progress"
    with _api(user, "GET", path, stream=True, timeout=(10, remaining)) as stream:
        if stream.status_code != 200:
            return f"progress HTTP {stream.status_code}"
        for raw in stream.iter_lines():
            if time.monotonic() > deadline:
                return "timeout"
            line = raw.decode(errors="replace")
            if not line.startswith("data:"):
                continue
            event = json.loads(line[len("data:") :])
            if event.get("ready"):
                return ""
            if event.get("failed"):
                return str(event.get("message", "failed"))
    return "progress stream ended"


def _await_answer(user: HubUser, deadline: float) -> str:
    """Poll the server's API through the proxy until it answers 200; '' or why not."""
    status = "no answer"
    while time.monotonic() < deadline:
        try:
            response = _api(user, "GET", f"/user/{user.name}/api/status", timeout=10)
            if response.status_code == 200:
                return ""
            status = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            status = type(error).__name__
        time.sleep(READY_POLL_S)
    return f"server not answering: {status}"


def spawn(user: HubUser, timeout_s: float) -> Spawn:
    """POST the server, then time until its API answers through the proxy.

    The wait follows the hub's progress events (one long request per user, so 50
    waiting users do not load the hub with polls), then polls the server itself
    every 50 ms until it answers.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    try:
        response = _api(user, "POST", f"/hub/api/users/{user.name}/server", timeout=API_TIMEOUT_S)
        if response.status_code not in (201, 202):
            return Spawn(user.name, False, time.monotonic() - started, f"POST HTTP {response.status_code}")
        problem = _await_ready_event(user, deadline) or _await_answer(user, deadline)
    except requests.RequestException as error:
        problem = f"{type(error).__name__}: {error}"
    return Spawn(user.name, not problem, time.monotonic() - started, problem)


def spawn_at_once(users: Sequence[HubUser], timeout_s: float) -> list[Spawn]:
    """All users POST their server at the same moment (a barrier), each in its own thread."""
    barrier = threading.Barrier(len(users))

    def run(user: HubUser) -> Spawn:
        barrier.wait(timeout=60)
        return spawn(user, timeout_s)

    with ThreadPoolExecutor(len(users)) as pool:
        return list(pool.map(run, users))


def user_containers(client: docker.DockerClient, deployment: str) -> list[Any]:
    """DockerSpawner's containers of a deployment (its hub and proxy carry the same label)."""
    labelled = client.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={deployment}"})
    return [c for c in labelled if c.name.startswith(USER_CONTAINER_PREFIX)]


def stop_all(admin: HubUser, users: Sequence[HubUser], client: docker.DockerClient, deployment: str) -> float:
    """DELETE every user's server; wait until the hub lists none and their containers are gone."""
    started = time.monotonic()

    def stop(user: HubUser) -> None:
        with contextlib.suppress(requests.RequestException):  # the wait below tells whether it stopped
            _api(user, "DELETE", f"/hub/api/users/{user.name}/server", timeout=API_TIMEOUT_S)

    with ThreadPoolExecutor(STOP_WORKERS) as pool:
        list(pool.map(stop, users))
    names = {user.name for user in users}

    def all_stopped() -> bool:
        listed = _api(admin, "GET", "/hub/api/users", params={"state": "active"}, timeout=API_TIMEOUT_S)
        active = {u["name"] for u in listed.json()} if listed.status_code == 200 else names
        return not (active & names) and not user_containers(client, deployment)

    wait_until(all_stopped, STOP_TIMEOUT_S, 0.5, f"{len(users)} servers stopped")
    return time.monotonic() - started
