"""Pebble, Let's Encrypt's test ACME CA (Debian's package), as the CA of the HTTPS e2e tests.

It runs on the deployment's own network as `pebble`: the TLS terminator reaches its
directory there (trusting PEBBLE_LISTENER_CA, the test CA made here, as `tls.acmeCaRoot`),
and Pebble validates challenges by connecting to the public names, which that network
resolves to the terminator (its aliases). Only Pebble's management port is published, on
loopback: the tests read the root it signs with there. Pebble makes a new root each time
it starts. Everything made here carries the label TEST_LABEL; `stop` removes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import docker
import requests

from testkit.certificates import private_ca
from testkit.endpoints import free_loopback_port, wait_until

CONTEXT = Path(__file__).resolve().parent / "pebble"
IMAGE = "jupyterhub-docker-test-pebble:2.6.0"
TEST_LABEL = "org.jupyterhub-docker.test-pebble"
DIRECTORY_PORT = 14000
MANAGEMENT_PORT = 15000
HOST = "pebble"  # its alias on the network
START_TIMEOUT_S = 30


@dataclass
class Pebble:
    client: docker.DockerClient
    container_name: str
    network: str
    listener_ca: str  # PEM: what the terminator trusts for the directory's HTTPS
    workdir: Path
    management_port: int = 0

    @property
    def directory_url(self) -> str:
        return f"https://{HOST}:{DIRECTORY_PORT}/dir"

    def start(self, validity_s: int, challenge_ports: tuple[int, int], refused: tuple[str, ...] = ()) -> None:
        """(Re)start with certificates valid for validity_s, validating challenges on (http, tls-alpn) ports,
        refusing to issue for the names in `refused` (as a CA's policy does: rejectedIdentifier)."""
        self.stop()
        http_port, tls_port = challenge_ports
        config = {
            "pebble": {
                "listenAddress": f"0.0.0.0:{DIRECTORY_PORT}",
                "managementListenAddress": f"0.0.0.0:{MANAGEMENT_PORT}",
                "certificate": "/etc/pebble/listener.crt",
                "privateKey": "/etc/pebble/listener.key",
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
                "domainBlocklist": list(refused),
                # 0: no Retry-After; Pebble sends it as a date half the time, which Caddy 2.6's
                # ACME client cannot read (Let's Encrypt sends seconds).
                "retryAfter": {"authz": 0, "order": 0},
                "certificateValidityPeriod": validity_s,
            }
        }
        (self.workdir / "pebble.json").write_text(json.dumps(config))
        self.management_port = free_loopback_port()
        container = self.client.containers.create(
            IMAGE,
            name=self.container_name,
            labels={TEST_LABEL: self.network},
            environment={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"},
            ports={f"{MANAGEMENT_PORT}/tcp": ("127.0.0.1", self.management_port)},
            volumes={str(self.workdir): {"bind": "/etc/pebble", "mode": "ro"}},
        )
        self.client.networks.get("bridge").disconnect(container)
        self.client.networks.get(self.network).connect(container, aliases=[HOST])
        container.start()
        wait_until(self._answers, START_TIMEOUT_S, 0.5, "Pebble's management API")

    def _answers(self) -> bool:
        try:
            return self._get("/roots/0").status_code == 200
        except requests.ConnectionError:
            return False

    def _get(self, path: str) -> requests.Response:
        url = f"https://127.0.0.1:{self.management_port}{path}"
        return requests.get(url, verify=str(self.workdir / "listener-ca.crt"), timeout=5)

    def root(self) -> str:
        """PEM of the root Pebble signs with since it last started."""
        return self._get("/roots/0").text

    def issued(self) -> int:
        """Certificates Pebble issued since it last started (its log says each)."""
        logs = self.client.containers.get(self.container_name).logs().decode(errors="replace")
        return logs.count("Issued certificate serial")

    def stop(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={self.network}"}):
            container.remove(force=True)


def listener_ca(workdir: Path) -> str:
    """A CA for Pebble's own HTTPS listener (names `pebble` and 127.0.0.1), valid for a day; its PEM."""
    ca_pem = private_ca(workdir, "listener", [HOST])
    for name in ("listener.key", "listener.crt"):
        (workdir / name).chmod(0o644)  # Pebble runs as nobody
    workdir.chmod(0o755)
    return ca_pem


def pebble_on(client: docker.DockerClient, network: str, workdir: Path, base_image: str) -> Pebble:
    """A Pebble (not yet started) for the deployment whose network is `network`."""
    if not client.images.list(name=IMAGE):
        client.images.build(path=str(CONTEXT), tag=IMAGE, buildargs={"BASE_IMAGE": base_image}, labels={TEST_LABEL: ""}, rm=True)
    return Pebble(client, f"{network}-test-pebble", network, listener_ca(workdir), workdir)
