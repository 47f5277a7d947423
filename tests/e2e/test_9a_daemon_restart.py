"""The Docker daemon restarts: proxy, hub and running user servers come back by themselves.

Chosen mechanism: restart policies (unless-stopped) on the proxy, the hub and every
user container, and routes by container name, not by IP. It needs no daemon
setting (live-restore would, and changes how the whole host behaves).
"""

from __future__ import annotations

import subprocess
import time

from testkit.hub_user import HubUser
from testkit.program_runner import REPO_ROOT
from tests.e2e.deployed import NAMES, Deployed, measure

DAEMON_WAIT_S = 60


def dockerd_pid() -> int | None:
    found = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True)
    return int(found.stdout.split()[0]) if found.returncode == 0 else None


def test_everything_comes_back_after_a_docker_daemon_restart(deployed: Deployed, alice: HubUser) -> None:
    assert alice.api("GET", "/user/alice/api/status").status_code == 200
    note = {"type": "file", "format": "text", "content": "written before the daemon restart\n"}
    assert alice.api("PUT", "/user/alice/api/contents/before-restart.txt", json=note).status_code in (200, 201)
    pid = dockerd_pid()
    assert pid is not None, "the test needs to restart dockerd itself"
    stopped_at = time.monotonic()
    subprocess.run(["kill", "-TERM", str(pid)], check=True)
    for _ in range(DAEMON_WAIT_S * 5):
        if dockerd_pid() is None:
            break
        time.sleep(0.2)
    assert dockerd_pid() is None, f"dockerd did not stop within {DAEMON_WAIT_S}s"
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "bootstrap-engine.sh")], check=True, capture_output=True)

    for name in (NAMES.proxy_container, NAMES.hub_container, NAMES.user_server("alice")):
        assert deployed.client.containers.get(name).status == "running", name
    recovered = None
    for _ in range(DAEMON_WAIT_S * 10):
        try:
            if alice.api("GET", "/user/alice/api/status").status_code == 200:
                recovered = time.monotonic() - stopped_at
                break
        except OSError:
            pass
        time.sleep(0.1)
    assert recovered is not None, f"alice's server not reachable within {DAEMON_WAIT_S}s of the daemon restart"
    measure(f"docker daemon restart: alice's server reachable again {recovered:.1f}s after dockerd was stopped")
    assert alice.model()["servers"][""]["ready"] is True
    kept = alice.api("GET", "/user/alice/api/contents/before-restart.txt")
    assert kept.status_code == 200 and kept.json()["content"] == note["content"]
