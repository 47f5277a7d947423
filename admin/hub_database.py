"""An old hub's database and cookie secret, checked and made ready for this deployment's hub.

Works on copies only: the caller hands in a copy of the old database, and gets a new
file written with SQLite's backup API (so a write-ahead log is folded in), in which
the servers the old hub recorded as running are cleared: the new hub starts without
phantom servers, and each user's next start makes a new container.
"""

from __future__ import annotations

import re
import sqlite3
import string
from dataclasses import dataclass
from pathlib import Path

# JupyterHub's alembic revisions, oldest first (jupyterhub/alembic/versions, each
# file's `down_revision` names the one before it). The hub starts with --upgrade-db,
# so a database at any of these up to the hub's head is brought up to date.
REVISIONS = (
    "19c0846f6344",  # base revision for 0.5
    "eeb276e51423",  # auth_state
    "af4cbdb2d13c",  # services
    "3ec6993fe20c",  # 0.8 changes
    "1cebaf56856c",  # session_id on auth tokens
    "56cc5a70207e",  # token tracking
    "99a28a4418e1",  # user.created and spawner.started
    "d68c98b66cd4",  # client-description
    "896818069c98",  # APIToken.expires_at
    "4dc2d5a8c53c",  # persist user_options
    "833da8570507",  # roles (2.0)
    "651f5419b74d",  # api_token_scopes
    "0eee8c825d24",  # properties column
    "3c2384c5aae1",  # from_config on services
    "4621fec11365",  # manage roles (JupyterHub 5.x's head)
    "be8ecf03ddac",  # JupyterHub 6.x from here
    "afd65840b69e",  # pkce
    "ff1860e38070",  # added_user_info
    "f460b0348206",  # display_name on spawners (6.1's head)
)
# The head of the JupyterHub pinned in hub_config/requirements.txt (an e2e test reads
# the hub image's own migrations and fails when they differ).
HUB_HEAD = "f460b0348206"
REQUIRED_TABLES = ("alembic_version", "users", "spawners", "servers", "api_tokens")
NATIVE_USERS_TABLE = "users_info"  # NativeAuthenticator keeps its password hashes in the hub's database
_SQLITE_MAGIC = b"SQLite format 3\x00"
# JupyterHub >= 0.8 writes 32 random bytes as hex; it reads any even-length hex.
_COOKIE_SECRET = re.compile(r"(?:[0-9a-fA-F]{2}){32,}")
_DOCKER_SAFE = frozenset(string.ascii_lowercase + string.digits)


class AdoptionError(Exception):
    """The old deployment's data cannot be adopted as it is; the message says why and what to do."""


@dataclass(frozen=True)
class AdoptedDatabase:
    revision: str
    users: tuple[str, ...]
    api_tokens: int
    native_users: int
    cleared_servers: tuple[str, ...]  # "user" or "user/server-name"

    @property
    def upgraded_on_start(self) -> bool:
        return self.revision != HUB_HEAD


def escaped_user(name: str) -> str:
    """DockerSpawner 14's escape of a user name in Docker names: [a-z0-9] kept, every other byte `-xx`."""
    return "".join(c if c in _DOCKER_SAFE else "".join(f"-{byte:02x}" for byte in c.encode()) for c in name)


def check_cookie_secret(text: str, where: str) -> str:
    secret = text.strip()
    if not _COOKIE_SECRET.fullmatch(secret):
        raise AdoptionError(
            f"{where} is not a JupyterHub cookie secret (at least 32 bytes as hex, what JupyterHub 0.8 and later write). "
            "Fix: point --cookie-secret at the old hub's jupyterhub_cookie_secret; if the old hub took it from "
            "JPY_COOKIE_SECRET, write that value to a file and use that"
        )
    return secret + "\n"


def adopt_database(old_copy: Path, new: Path, auth_type: str) -> AdoptedDatabase:
    """Check the old database (a copy of it) and write the new hub's database from it."""
    with old_copy.open("rb") as head:
        if head.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
            raise AdoptionError(f"{old_copy.name} is not an SQLite database. Fix: point --db at the old hub's jupyterhub.sqlite")
    source = sqlite3.connect(old_copy)
    try:
        integrity = source.execute("PRAGMA quick_check").fetchone()[0]
        if integrity != "ok":
            raise AdoptionError(f"{old_copy.name} is damaged ({integrity}). Fix: adopt a backup of it")
        target = sqlite3.connect(new)
        try:
            source.backup(target)
        finally:
            target.close()
    except sqlite3.DatabaseError as error:
        raise AdoptionError(f"{old_copy.name} cannot be read as a database ({error})") from None
    finally:
        source.close()
    database = sqlite3.connect(new)
    try:
        adopted = _check_and_clear(database, auth_type)
        database.commit()
    finally:
        database.close()
    return adopted


def _check_and_clear(database: sqlite3.Connection, auth_type: str) -> AdoptedDatabase:
    tables = {row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if missing := [table for table in REQUIRED_TABLES if table not in tables]:
        raise AdoptionError(
            f"not a JupyterHub database of version 0.8 or later: no table {', '.join(missing)}. "
            "Fix: point --db at the old hub's jupyterhub.sqlite (start an older hub once with JupyterHub 1.x to upgrade it)"
        )
    revision = str(database.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    if revision not in REVISIONS:
        raise AdoptionError(f"the database's schema revision {revision} is not one JupyterHub has ever had")
    if REVISIONS.index(revision) > REVISIONS.index(HUB_HEAD):
        raise AdoptionError(
            f"the database is from a newer JupyterHub (schema {revision}) than this deployment's hub (schema {HUB_HEAD}); "
            "a hub cannot downgrade it. Fix: pin jupyterhub in hub_config/requirements.txt to the old hub's version or later"
        )
    native_users = (
        database.execute(f"SELECT count(*) FROM {NATIVE_USERS_TABLE}").fetchone()[0] if NATIVE_USERS_TABLE in tables else 0
    )
    if auth_type == "native" and NATIVE_USERS_TABLE not in tables:
        raise AdoptionError(
            "auth.type is native, but the old hub did not use NativeAuthenticator (no users_info table): its users "
            "would have no passwords here. Fix: pulumi config set --path auth.type <the old hub's authenticator>"
        )
    if auth_type != "native" and native_users:
        raise AdoptionError(
            f"the old hub used NativeAuthenticator ({native_users} users with passwords) but auth.type is {auth_type}: "
            "they could not log in. Fix: pulumi config set --path auth.type native"
        )
    running = database.execute(
        "SELECT users.name, spawners.name FROM spawners JOIN users ON users.id = spawners.user_id "
        "WHERE spawners.server_id IS NOT NULL ORDER BY users.name, spawners.name"
    ).fetchall()
    database.execute("DELETE FROM servers WHERE id IN (SELECT server_id FROM spawners WHERE server_id IS NOT NULL)")
    database.execute("UPDATE spawners SET server_id = NULL, state = '{}', started = NULL WHERE server_id IS NOT NULL")
    users = tuple(row[0] for row in database.execute("SELECT name FROM users ORDER BY name"))
    return AdoptedDatabase(
        revision=revision,
        users=users,
        api_tokens=database.execute("SELECT count(*) FROM api_tokens").fetchone()[0],
        native_users=native_users,
        cleared_servers=tuple(f"{user}/{server}" if server else user for user, server in running),
    )
