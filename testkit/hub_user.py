"""A JupyterHub user driven over HTTP through the proxy's loopback port."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

import requests
import websocket

XSRF_FIELD = re.compile(r'name="_xsrf"\s+value="([^"]+)"')
REQUEST_TIMEOUT_S = 30  # a spawn's POST may last JupyterHub's slow_spawn_timeout (10 s) and more


class KernelDiedError(AssertionError):
    """The kernel died while running code (e.g. killed for exceeding the memory limit)."""


class HubUser:
    def __init__(self, base_url: str, name: str, password: str):
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.password = password
        self.session = requests.Session()
        self.token = ""

    def _form(self, path: str, fields: dict[str, str], query: str = "") -> requests.Response:
        page = self.session.get(f"{self.base_url}{path}", timeout=REQUEST_TIMEOUT_S)
        page.raise_for_status()
        xsrf = XSRF_FIELD.search(page.text)
        assert xsrf, f"no _xsrf field on {path}"
        data = {**fields, "_xsrf": xsrf.group(1)}
        return self.session.post(f"{self.base_url}{path}{query}", data=data, timeout=REQUEST_TIMEOUT_S)

    def sign_up(self) -> None:
        response = self._form(
            "/hub/signup",
            {"username": self.name, "signup_password": self.password, "signup_password_confirmation": self.password},
        )
        response.raise_for_status()

    def log_in(self) -> None:
        # next=/hub/home: without it the hub sends a fresh login on to /hub/spawn, which
        # starts the server; the tests start servers themselves, to time them.
        response = self._form("/hub/login", {"username": self.name, "password": self.password}, "?next=%2Fhub%2Fhome")
        response.raise_for_status()
        assert "/hub/login" not in response.url, f"login as {self.name} was refused"
        self.token = self._create_token()

    def _create_token(self) -> str:
        response = self.session.post(
            f"{self.base_url}/hub/api/users/{self.name}/tokens",
            json={"note": "e2e", "expires_in": 3600},
            headers={"X-XSRFToken": self.session.cookies.get("_xsrf") or ""},
            timeout=REQUEST_TIMEOUT_S,
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.base_url}{path}", headers=headers, timeout=REQUEST_TIMEOUT_S, **kwargs)

    def model(self) -> dict[str, Any]:
        response = self.api("GET", f"/hub/api/users/{self.name}")
        response.raise_for_status()
        return dict(response.json())

    def users(self, *names: str) -> dict[str, dict[str, Any]]:
        """Other users' models, by name, as this admin reads them."""
        return {name: self.api("GET", f"/hub/api/users/{name}").json() for name in names}

    def groups(self, member_prefix: str) -> dict[str, list[str]]:
        """JupyterHub's groups as this admin reads them, with only the members whose names start with member_prefix
        (a shared deployment holds other scenarios' users too); groups left empty are left out."""
        members = {group["name"]: sorted(u for u in group["users"] if u.startswith(member_prefix))
                   for group in self.api("GET", "/hub/api/groups").json()}  # fmt: skip
        return {name: users for name, users in members.items() if users}

    def start_server(self, timeout_s: float = 120, user_options: dict[str, Any] | None = None) -> float:
        """Start the default server (with these spawn options); seconds until it answers through the proxy."""
        started = time.monotonic()
        body = {"json": {"user_options": user_options}} if user_options is not None else {}
        response = self.api("POST", f"/hub/api/users/{self.name}/server", **body)
        assert response.status_code in (201, 202), response.text
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            status = self.api("GET", f"/user/{self.name}/api/status")
            if status.status_code == 200:
                return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(f"{self.name}'s server did not answer within {timeout_s}s: {self.model()}")

    def stop_server(self, timeout_s: float = 60) -> None:
        response = self.api("DELETE", f"/hub/api/users/{self.name}/server")
        assert response.status_code in (202, 204), response.text
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.model()["servers"]:
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.name}'s server did not stop within {timeout_s}s")

    def write_file(self, path: str, content: bytes) -> None:
        """Save a file in the user's home through their server's contents API."""
        model = {"type": "file", "format": "base64", "content": base64.b64encode(content).decode()}
        response = self.api("PUT", f"/user/{self.name}/api/contents/{path}", json=model)
        assert response.status_code in (200, 201), response.text

    def mkdir(self, path: str) -> None:
        response = self.api("PUT", f"/user/{self.name}/api/contents/{path}", json={"type": "directory"})
        assert response.status_code in (200, 201), response.text

    def read_file(self, path: str) -> bytes:
        response = self.api("GET", f"/user/{self.name}/api/contents/{path}?type=file&format=base64&content=1")
        assert response.status_code == 200, response.text
        return base64.b64decode(response.json()["content"])

    def run_code(self, code: str, timeout_s: float = 60) -> str:
        """Execute code in a new kernel over the kernel websocket; the text/plain result."""
        response = self.api("POST", f"/user/{self.name}/api/kernels", json={"name": "python3"})
        assert response.status_code == 201, response.text
        kernel_id = response.json()["id"]
        ws_url = websocket_url(self.base_url) + f"/user/{self.name}/api/kernels/{kernel_id}/channels"
        connection = websocket.create_connection(ws_url, header=[f"Authorization: token {self.token}"], timeout=timeout_s)
        try:
            msg_id = uuid.uuid4().hex
            connection.send(
                json.dumps(
                    {
                        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.name, "session": msg_id},
                        "parent_header": {},
                        "metadata": {},
                        "content": {"code": code, "silent": False},
                        "channel": "shell",
                    }
                )
            )
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                message = json.loads(connection.recv())
                if message["msg_type"] == "status" and message["content"]["execution_state"] in ("restarting", "dead"):
                    raise KernelDiedError(f"kernel {message['content']['execution_state']} while running {code!r}")
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if message["msg_type"] == "execute_result":
                    return str(message["content"]["data"]["text/plain"])
                if message["msg_type"] == "error":
                    raise AssertionError(f"kernel error: {message['content']['ename']}")
            raise AssertionError(f"no result within {timeout_s}s")
        finally:
            connection.close()
            self.api("DELETE", f"/user/{self.name}/api/kernels/{kernel_id}")


def websocket_url(base_url: str) -> str:
    """ws:// for an http:// hub, wss:// for https://."""
    return re.sub(r"^http", "ws", base_url)


def user_with_a_server(base_url: str, name: str) -> HubUser:
    """A user signed up, logged in and with a running server."""
    user = HubUser(base_url, name, f"{name}-e2e-password")
    user.sign_up()
    user.log_in()
    user.start_server()
    return user
