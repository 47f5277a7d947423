"""A real OpenLDAP server (Debian's slapd) as the directory of the LDAP login e2e tests.

JupyterHub's LDAPAuthenticator binds as the user (`bind_dn_template`), or finds the user's DN
first with a service account (`lookup_dn`), then checks `allowed_groups` by searching each
group for `member=<user DN>`: the directory here has exactly that shape. Users are
inetOrgPerson + posixAccount under ou=people (`uid` is the login name), groups groupOfNames
under ou=groups, and `cn=reader` may search (not read passwords).

It runs on the deployment's network under its alias (`ldap` by default), with STARTTLS on 389
and ldaps on 636 and a certificate for that alias (and 127.0.0.1) from a test CA made here: the
hub trusts `ca_pem`. Both ports are also published on loopback, where the tests talk to it.
The directory is made anew at each start; `set_groups` changes it while it runs. Everything
made here carries the label TEST_LABEL; `stop` removes it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import secrets
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker

from components.built_image import content_tag
from testkit.certificates import private_ca
from testkit.endpoints import free_loopback_port, wait_until

CONTEXT = Path(__file__).resolve().parent / "ldap_server"
IMAGE = f"jupyterhub-docker-test-ldap:2.6.10-{content_tag(CONTEXT, {})}"  # a changed context builds anew
TEST_LABEL = "org.jupyterhub-docker.test-ldap"
SUFFIX = "dc=example,dc=org"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
ADMIN_DN = f"cn=admin,{SUFFIX}"
READER_DN = f"cn=reader,{SUFFIX}"
LDAP_PORT = 389
LDAPS_PORT = 636
SEED = "/seed"  # where the container sees workdir
START_TIMEOUT_S = 30
CHANGE_TIMEOUT_S = 30

_changes = itertools.count(1)


def ssha(password: str) -> str:
    """userPassword value: salted SHA-1, a scheme every slapd verifies without a module."""
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


@dataclass
class LdapServer:
    client: docker.DockerClient
    container_name: str
    network: str
    alias: str
    ca_pem: str  # the test CA that signed the server's certificate
    workdir: Path
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    reader_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    ldap_port: int = 0  # 389 (STARTTLS) published on 127.0.0.1, once started
    ldaps_port: int = 0  # 636 (ldaps) published on 127.0.0.1, once started
    groups: dict[str, list[str]] = field(default_factory=dict)  # as the directory has them now

    @property
    def host(self) -> str:
        return self.alias

    @property
    def ca_file(self) -> Path:
        return self.workdir / "ldap-ca.crt"

    @property
    def admin_dn(self) -> str:
        return ADMIN_DN

    @property
    def reader_dn(self) -> str:
        return READER_DN

    @property
    def bind_dn_template(self) -> str:
        return f"uid={{username}},{PEOPLE}"

    @property
    def user_search_base(self) -> str:
        return PEOPLE

    @property
    def group_search_base(self) -> str:
        return GROUPS

    def user_dn(self, username: str) -> str:
        return f"uid={username},{PEOPLE}"

    def group_dn(self, name: str) -> str:
        return f"cn={name},{GROUPS}"

    def start(self, users: Mapping[str, str], groups: Mapping[str, Sequence[str]]) -> None:
        """(Re)start with a new directory: users {login: password}, groups {name: [login, ...]}.
        A group with no members is left out (groupOfNames needs one)."""
        self.stop()
        (self.workdir / "ldap-data.ldif").write_text(self._data_ldif(users, groups))
        self.ldap_port, self.ldaps_port = free_loopback_port(), free_loopback_port()
        container = self.client.containers.create(
            IMAGE,
            name=self.container_name,
            hostname=self.alias,
            labels={TEST_LABEL: self.network},
            environment={"LDAP_ADMIN_PASSWORD_HASH": ssha(self.admin_password)},
            ports={f"{LDAP_PORT}/tcp": ("127.0.0.1", self.ldap_port), f"{LDAPS_PORT}/tcp": ("127.0.0.1", self.ldaps_port)},
            volumes={str(self.workdir): {"bind": SEED, "mode": "ro"}},
        )
        self.client.networks.get("bridge").disconnect(container)
        self.client.networks.get(self.network).connect(container, aliases=[self.alias])
        container.start()
        self.groups = {name: list(members) for name, members in groups.items() if members}
        wait_until(self._answers, START_TIMEOUT_S, 0.5, f"slapd on 127.0.0.1:{self.ldaps_port}")

    def set_groups(self, groups: Mapping[str, Sequence[str]]) -> None:
        """Make the running directory's groups exactly `groups` (an empty one is deleted)."""
        wanted = {name: list(members) for name, members in groups.items() if members}
        records = [f"dn: {self.group_dn(name)}\nchangetype: delete\n" for name in self.groups if name not in wanted]
        for name, members in wanted.items():
            if name in self.groups:
                lines = ["changetype: modify", "replace: member", *(f"member: {self.user_dn(m)}" for m in members), "-"]
            else:
                lines = ["changetype: add", *self._group_lines(name, members)[1:]]
            records.append("\n".join([f"dn: {self.group_dn(name)}", *lines]) + "\n")
        if records:
            self._modify("\n".join(records))
        self.groups = wanted

    def _modify(self, ldif: str) -> None:
        # Through the container's own socket as the rootDN: nothing crosses the network.
        name = f"ldap-change-{next(_changes)}.ldif"
        (self.workdir / name).write_text(ldif)
        container = self.client.containers.get(self.container_name)
        command = ["timeout", str(CHANGE_TIMEOUT_S), "ldapmodify", "-x", "-H", "ldapi:///", "-D", ADMIN_DN,
                   "-w", self.admin_password, "-f", f"{SEED}/{name}"]  # fmt: skip
        code, output = container.exec_run(command)
        if code != 0:
            raise RuntimeError(f"ldapmodify exited {code}:\n{output.decode(errors='replace')}\n{ldif}")

    def _answers(self) -> bool:
        """slapd finishes a TLS handshake on the published ldaps port (Docker's proxy alone
        accepts the connection and then closes it)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with (
                socket.create_connection(("127.0.0.1", self.ldaps_port), timeout=3) as raw,
                context.wrap_socket(raw, server_hostname=self.alias),
            ):
                return True
        except OSError:
            return False

    def logs(self) -> str:
        return self.client.containers.get(self.container_name).logs().decode(errors="replace")

    def stop(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={self.network}"}):
            container.remove(force=True)

    def _data_ldif(self, users: Mapping[str, str], groups: Mapping[str, Sequence[str]]) -> str:
        entries = [
            [f"dn: {SUFFIX}", "objectClass: dcObject", "objectClass: organization", "dc: example", "o: Example"],
            [f"dn: {PEOPLE}", "objectClass: organizationalUnit", "ou: people"],
            [f"dn: {GROUPS}", "objectClass: organizationalUnit", "ou: groups"],
            [
                f"dn: {READER_DN}",
                "objectClass: organizationalRole",
                "objectClass: simpleSecurityObject",
                "cn: reader",
                f"userPassword: {ssha(self.reader_password)}",
            ],
        ]
        for number, (login, password) in enumerate(users.items(), start=10001):
            entries.append(
                [
                    f"dn: {self.user_dn(login)}",
                    "objectClass: inetOrgPerson",
                    "objectClass: posixAccount",
                    f"uid: {login}",
                    f"cn: {login}",
                    f"sn: {login}",
                    f"uidNumber: {number}",
                    f"gidNumber: {number}",
                    f"homeDirectory: /home/{login}",
                    f"userPassword: {ssha(password)}",
                ]
            )
        entries.extend(self._group_lines(name, members) for name, members in groups.items() if members)
        return "\n".join("\n".join(lines) + "\n" for lines in entries)

    def _group_lines(self, name: str, members: Sequence[str]) -> list[str]:
        return [f"dn: {self.group_dn(name)}", "objectClass: groupOfNames", f"cn: {name}",
                *(f"member: {self.user_dn(m)}" for m in members)]  # fmt: skip


def ldap_server_on(client: docker.DockerClient, network: str, base_image: str, workdir: Path, alias: str = "ldap") -> LdapServer:
    """An LDAP server (not yet started) for the deployment whose network is `network`."""
    if not client.images.list(name=IMAGE):
        client.images.build(path=str(CONTEXT), tag=IMAGE, buildargs={"BASE_IMAGE": base_image}, labels={TEST_LABEL: ""}, rm=True)
    return LdapServer(client, f"{network}-test-ldap", network, alias, private_ca(workdir, "ldap", [alias, "localhost"]), workdir)
