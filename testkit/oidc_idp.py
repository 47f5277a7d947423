"""A real OpenID Connect identity provider for the e2e tests: oidc-provider (npm) on Debian's Node.js.

The hub's OAuthenticator talks to a certified OpenID Connect implementation, as it would
to Keycloak or an institution's IdP, instead of a mock: discovery, the login form, PKCE,
client authentication, ID tokens, userinfo, refresh tokens and logout are the real ones.
It has one confidential client and the users of /data/users.json, which it reads at every
login, token and userinfo request: `set_users` changes a user's groups between logins.

It runs on the deployment's network as `alias` and listens on port P, published on this
host's 127.0.0.1:P, with HTTPS from a private test CA (`ca_pem`; the certificate names
<alias> and 127.0.0.1): the issuer `https://<alias>:P` names the same server from the hub
and, for a browser mapping <alias> to 127.0.0.1, from the host. oidc-provider builds its
endpoints' URLs from the request's Host header (the issuer stays fixed), so requests to
127.0.0.1:P are answered with 127.0.0.1:P URLs unless they send `Host: <alias>:P`.
Everything made here carries the label TEST_LABEL; `stop` removes it.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import requests
from docker.models.containers import Container

from components.built_image import content_tag, read_ca_certificates
from testkit.certificates import private_ca
from testkit.endpoints import free_loopback_port, wait_until

CONTEXT = Path(__file__).resolve().parent / "oidc_idp"
OIDC_PROVIDER_VERSION = "9.13.3"  # as pinned in oidc_idp/package.json
# The build context's content in the tag: an edit to server.mjs builds a new image.
IMAGE = f"jupyterhub-docker-test-oidc-idp:{OIDC_PROVIDER_VERSION}-{content_tag(CONTEXT, {})}"
TEST_LABEL = "org.jupyterhub-docker.test-oidc-idp"
DATA_DIR = "/data"
USERS_FILE = f"{DATA_DIR}/users.json"
DEFAULT_CA_CERTS = "/usr/local/share/ca-certificates"
START_TIMEOUT_S = 30

# user name -> {"password": str, "email": str, "groups": [str, ...]} (and optionally "name")
Users = Mapping[str, Mapping[str, object]]


@dataclass
class OidcIdp:
    client: docker.DockerClient
    container_name: str
    network: str
    alias: str
    port: int  # inside the container and on this host's 127.0.0.1
    workdir: Path  # the CA and the server's certificate (testkit.certificates.private_ca)
    ca_pem: str

    @property
    def issuer(self) -> str:
        return f"https://{self.alias}:{self.port}"

    @property
    def local_url(self) -> str:
        """The same server as this host reaches it (requests get 127.0.0.1 URLs back, see the module doc)."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "idp-ca.crt"

    def start(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Sequence[str],
        users: Users,
        *,
        post_logout_redirect_uris: Sequence[str] = (),
        access_token_ttl_s: int = 600,
        require_pkce: bool = True,
    ) -> None:
        """(Re)start with one confidential client (client_secret_basic or client_secret_post) and `users`.

        Every start forgets sessions, grants and tokens and makes a new signing key."""
        self.stop()
        container = self.client.containers.create(
            IMAGE,
            name=self.container_name,
            labels={TEST_LABEL: self.network},
            environment={
                "ISSUER": self.issuer,
                "CLIENT_ID": client_id,
                "CLIENT_SECRET": client_secret,
                "REDIRECT_URIS": ",".join(redirect_uris),
                "POST_LOGOUT_REDIRECT_URIS": ",".join(post_logout_redirect_uris),
                "ACCESS_TOKEN_TTL_S": str(access_token_ttl_s),
                "PKCE_REQUIRED": "1" if require_pkce else "0",
                "USERS_FILE": USERS_FILE,
                "TLS_CERT_FILE": f"{DATA_DIR}/idp.crt",
                "TLS_KEY_FILE": f"{DATA_DIR}/idp.key",
            },
            ports={f"{self.port}/tcp": ("127.0.0.1", self.port)},
        )
        self._put_users(container, users)
        self._put_files(container, {name: (self.workdir / name).read_bytes() for name in ("idp.crt", "idp.key")})
        self.client.networks.get("bridge").disconnect(container)
        self.client.networks.get(self.network).connect(container, aliases=[self.alias])
        container.start()
        try:
            wait_until(self._answers, START_TIMEOUT_S, 0.5, "the OIDC IdP's discovery document")
        except TimeoutError as error:
            raise TimeoutError(f"{error}; its log:\n{self.logs()}") from error

    def set_users(self, users: Users) -> None:
        """Replace the users; the next login, token or userinfo request sees them."""
        self._put_users(self.client.containers.get(self.container_name), users)

    def logs(self) -> str:
        """What it logged since it last started: one event a line ("login ok", "token ok", "token error", ...)."""
        return self.client.containers.get(self.container_name).logs().decode(errors="replace")

    def stop(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={self.network}"}):
            container.remove(force=True)

    def _answers(self) -> bool:
        try:
            answer = requests.get(f"{self.local_url}/.well-known/openid-configuration", timeout=5, verify=str(self.ca_file))
        except requests.ConnectionError:
            return False
        return answer.status_code == 200 and answer.json().get("issuer") == self.issuer

    @classmethod
    def _put_users(cls, container: Container, users: Users) -> None:
        cls._put_files(container, {Path(USERS_FILE).name: json.dumps(users, indent=2).encode()})

    @staticmethod
    def _put_files(container: Container, files: Mapping[str, bytes]) -> None:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for name, data in files.items():
                entry = tarfile.TarInfo(name)
                entry.size, entry.mode = len(data), 0o644  # the server runs as nobody
                tar.addfile(entry, io.BytesIO(data))
        if not container.put_archive(DATA_DIR, archive.getvalue()):
            raise RuntimeError(f"could not write {', '.join(files)} in {container.name}:{DATA_DIR}")


def build_image(client: docker.DockerClient, base_image: str, ca_certs: str = DEFAULT_CA_CERTS) -> None:
    """Build IMAGE from base_image (Debian trixie), npm trusting this host's extra CA certificates."""
    build_args = {"BASE_IMAGE": base_image, "EXTRA_CA_CERTS": read_ca_certificates(ca_certs if Path(ca_certs).exists() else "")}
    if os.environ.get("NPM_CONFIG_REGISTRY"):
        build_args["NPM_CONFIG_REGISTRY"] = os.environ["NPM_CONFIG_REGISTRY"]
    client.images.build(path=str(CONTEXT), tag=IMAGE, buildargs=build_args, labels={TEST_LABEL: ""}, rm=True, forcerm=True)


def oidc_idp_on(client: docker.DockerClient, network: str, base_image: str, workdir: Path, alias: str = "idp") -> OidcIdp:
    """An IdP (not yet started) on the Docker network `network`, as `alias`; builds IMAGE when missing."""
    if not client.images.list(name=IMAGE):
        build_image(client, base_image)
    ca_pem = private_ca(workdir, "idp", [alias])
    return OidcIdp(client, f"{network}-test-oidc-idp", network, alias, free_loopback_port(), workdir, ca_pem)
