"""Adopting an old hub's database and cookie secret: what is checked, what is carried, what is cleared."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from admin import hub_database
from admin.adopt import home_volumes_found, summary
from admin.disk import usage_lines
from admin.hub_database import (
    HUB_HEAD,
    REVISIONS,
    AdoptedDatabase,
    AdoptionError,
    adopt_database,
    check_cookie_secret,
    escaped_user,
)
from admin.stack import read_stack
from components.config import ConfigError
from components.names import DeploymentNames
from testkit.program_runner import copy_project

SCHEMA = """
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, admin BOOLEAN);
CREATE TABLE servers (id INTEGER PRIMARY KEY, ip TEXT, port INTEGER, base_url TEXT);
CREATE TABLE spawners (id INTEGER PRIMARY KEY, user_id INTEGER, server_id INTEGER, state TEXT, name TEXT, started DATETIME);
CREATE TABLE api_tokens (id INTEGER PRIMARY KEY, user_id INTEGER, hashed TEXT);
CREATE TABLE services (id INTEGER PRIMARY KEY, name TEXT, server_id INTEGER);
"""
NATIVE_SCHEMA = "CREATE TABLE users_info (id INTEGER PRIMARY KEY, username TEXT, password BLOB, is_authorized BOOLEAN);"


def old_hub_database(path: Path, revision: str = HUB_HEAD, native: bool = True, wal: bool = False) -> sqlite3.Connection:
    """A database shaped like an old hub's: ada runs a server (default and `gpu`), bob does not, a service has one."""
    database = sqlite3.connect(path)
    if wal:
        database.execute("PRAGMA journal_mode=WAL")
        database.execute("PRAGMA wal_autocheckpoint=0")
    database.executescript(SCHEMA + (NATIVE_SCHEMA if native else ""))
    database.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    database.executemany("INSERT INTO users VALUES (?, ?, ?)", [(1, "ada", True), (2, "bob", False)])
    database.executemany(
        "INSERT INTO servers VALUES (?, ?, ?, ?)", [(1, "jupyter-ada", 8888, "/user/ada/"), (2, "x", 1, "/"), (3, "svc", 1, "/")]
    )
    database.executemany(
        "INSERT INTO spawners VALUES (?, ?, ?, ?, ?, ?)",
        [
            (1, 1, 1, '{"object_id": "abc"}', "", "2026-01-01"),
            (2, 1, 2, '{"object_id": "def"}', "gpu", "2026-01-01"),
            (3, 2, None, "{}", "", None),
        ],
    )
    database.execute("INSERT INTO services VALUES (1, 'culler', 3)")
    database.executemany("INSERT INTO api_tokens VALUES (?, ?, ?)", [(1, 1, "h1"), (2, 2, "h2")])
    if native:
        database.executemany(
            "INSERT INTO users_info VALUES (?, ?, ?, ?)", [(1, "ada", b"$2b$hash", True), (2, "bob", b"$2b$h", True)]
        )
    database.commit()
    return database


def test_an_old_database_is_carried_whole_with_its_running_servers_cleared(tmp_path: Path) -> None:
    old_hub_database(tmp_path / "old.sqlite").close()
    before = (tmp_path / "old.sqlite").read_bytes()
    adopted = adopt_database(tmp_path / "old.sqlite", tmp_path / "new.sqlite", "native")
    assert (tmp_path / "old.sqlite").read_bytes() == before
    assert (adopted.users, adopted.api_tokens, adopted.native_users) == (("ada", "bob"), 2, 2)
    assert adopted.cleared_servers == ("ada", "ada/gpu") and not adopted.upgraded_on_start
    new = sqlite3.connect(tmp_path / "new.sqlite")
    assert new.execute("SELECT id, server_id, state, started FROM spawners ORDER BY id").fetchall() == [
        (1, None, "{}", None),
        (2, None, "{}", None),
        (3, None, "{}", None),
    ]
    assert new.execute("SELECT id FROM servers").fetchall() == [(3,)]  # the service's server stays
    assert new.execute("SELECT username, password FROM users_info ORDER BY id").fetchall() == [
        ("ada", b"$2b$hash"),
        ("bob", b"$2b$h"),
    ]
    assert new.execute("SELECT hashed FROM api_tokens ORDER BY id").fetchall() == [("h1",), ("h2",)]


def test_what_is_only_in_the_write_ahead_log_comes_along(tmp_path: Path) -> None:
    live = old_hub_database(tmp_path / "live.sqlite", wal=True)  # still open: nothing checkpointed
    live.execute("INSERT INTO users VALUES (3, 'cy', 0)")
    live.commit()
    copies = tmp_path / "copies"
    copies.mkdir()
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(tmp_path / f"live.sqlite{suffix}", copies / f"old.sqlite{suffix}")
    live.close()
    assert adopt_database(copies / "old.sqlite", tmp_path / "new.sqlite", "native").users == ("ada", "bob", "cy")


def test_an_older_schema_is_taken_and_upgraded_by_the_hub_and_a_newer_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_hub_database(tmp_path / "v2.sqlite", revision="833da8570507").close()
    assert adopt_database(tmp_path / "v2.sqlite", tmp_path / "new2.sqlite", "native").upgraded_on_start
    assert REVISIONS[-1] == HUB_HEAD, "the pinned JupyterHub's head is the newest schema known"
    monkeypatch.setattr(hub_database, "HUB_HEAD", "4621fec11365")  # a deployment still on JupyterHub 5
    newer = "be8ecf03ddac"  # JupyterHub 6's first
    old_hub_database(tmp_path / "v6.sqlite", revision=newer).close()
    with pytest.raises(AdoptionError, match=f"from a newer JupyterHub \\(schema {newer}\\).*Fix: pin jupyterhub"):
        adopt_database(tmp_path / "v6.sqlite", tmp_path / "new6.sqlite", "native")
    old_hub_database(tmp_path / "odd.sqlite", revision="0123456789ab").close()
    with pytest.raises(AdoptionError, match="revision 0123456789ab is not one JupyterHub has ever had"):
        adopt_database(tmp_path / "odd.sqlite", tmp_path / "new-odd.sqlite", "native")


def test_the_authenticator_must_match_the_old_hubs(tmp_path: Path) -> None:
    old_hub_database(tmp_path / "plain.sqlite", native=False).close()
    with pytest.raises(AdoptionError, match=r"auth.type is native, but the old hub did not use NativeAuthenticator"):
        adopt_database(tmp_path / "plain.sqlite", tmp_path / "a.sqlite", "native")
    assert adopt_database(tmp_path / "plain.sqlite", tmp_path / "b.sqlite", "github").native_users == 0
    old_hub_database(tmp_path / "native.sqlite").close()
    with pytest.raises(AdoptionError, match=r"used NativeAuthenticator \(2 users with passwords\) but auth.type is github"):
        adopt_database(tmp_path / "native.sqlite", tmp_path / "c.sqlite", "github")


def test_what_is_not_a_jupyterhub_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "text.sqlite").write_text("not a database")
    with pytest.raises(AdoptionError, match=r"text.sqlite is not an SQLite database. Fix: point --db"):
        adopt_database(tmp_path / "text.sqlite", tmp_path / "a.sqlite", "native")
    other = sqlite3.connect(tmp_path / "other.sqlite")
    other.execute("CREATE TABLE users (id INTEGER)")
    other.close()
    with pytest.raises(AdoptionError, match="no table alembic_version, spawners, servers, api_tokens"):
        adopt_database(tmp_path / "other.sqlite", tmp_path / "b.sqlite", "native")
    old_hub_database(tmp_path / "cut.sqlite").close()
    whole = (tmp_path / "cut.sqlite").read_bytes()
    (tmp_path / "cut.sqlite").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AdoptionError, match=r"cut.sqlite (is damaged|cannot be read)"):
        adopt_database(tmp_path / "cut.sqlite", tmp_path / "c.sqlite", "native")


def test_a_cookie_secret_is_jupyterhubs_hex_and_nothing_else() -> None:
    secret = "0f" * 32
    assert check_cookie_secret(secret + "\n", "s") == secret + "\n"
    assert check_cookie_secret("AB" * 40, "s") == "AB" * 40 + "\n"
    for bad in ("", "0f" * 31, "0f" * 32 + "0", "zz" * 32, "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0=="):
        with pytest.raises(AdoptionError, match="old/secret is not a JupyterHub cookie secret"):
            check_cookie_secret(bad, "old/secret")


def test_user_names_are_escaped_as_dockerspawner_does() -> None:
    assert [escaped_user(name) for name in ("ada", "jane.doe", "a-b", "x_1", "zoë")] == [
        "ada",
        "jane-2edoe",
        "a-2db",
        "x-5f1",
        "zo-c3-ab",
    ]


def test_the_hub_head_is_the_last_revision_of_its_release_chain() -> None:
    assert len(set(REVISIONS)) == len(REVISIONS) and HUB_HEAD in REVISIONS


def test_a_stack_file_gives_the_names_the_program_uses(tmp_path: Path) -> None:
    copy_project(tmp_path)
    stack = tmp_path / "Pulumi.adopt.yaml"
    stack.write_text(
        "config:\n"
        "  docker:host: ssh://admin@hub-host\n"
        "  jupyterhub-docker:name: course\n"
        "  jupyterhub-docker:publicPort: 8443\n"
        "  jupyterhub-docker:dockerApiProxy: false\n"
        "  jupyterhub-docker:tlsCertificate:\n    secure: v1:abc\n"
        "  jupyterhub-docker:tlsKey:\n    secure: v1:def\n"
        "  jupyterhub-docker:tls:\n    mode: files\n"
        "  jupyterhub-docker:spawner:\n    homeVolumeTemplate: jupyterhub-user-{username}\n    pidsLimit: 512\n"
    )
    config, engine = read_stack(tmp_path, "adopt")
    assert engine == "ssh://admin@hub-host"
    assert (config.names.hub_data_volume, config.names.home_volume("ada")) == ("course-hub-data", "jupyterhub-user-ada")
    assert (config.public_port, config.docker_api_proxy, config.spawner.pids_limit, config.serves_tls) == (8443, False, 512, True)
    stack.write_text("config:\n  jupyterhub-docker:backupPassword: hunter2\n")  # set without --secret
    with pytest.raises(ConfigError, match=r"^config 'backupPassword': a secret, set in plain text .* --secret backupPassword"):
        read_stack(tmp_path, "adopt")
    stack.write_text("config:\n  jupyterhub-docker:nmae: course\n")
    with pytest.raises(ValueError, match="'nmae'"):
        read_stack(tmp_path, "adopt")
    with pytest.raises(SystemExit, match="no stack 'missing'"):
        read_stack(tmp_path, "missing")


class VolumesOnly:
    """A Docker client that knows volumes by name, nothing else."""

    def __init__(self, *names: str) -> None:
        self.volumes = self
        self.names = names

    def list(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name=name) for name in self.names]


def test_no_home_volume_for_any_user_stops_the_adoption_unless_told() -> None:
    adopted = DeploymentNames("new", "jupyterhub-user-{username}")
    client: Any = VolumesOnly("jupyterhub-user-ada", "jupyterhub-user-jane-2edoe", "other")
    found = home_volumes_found(client, adopted, ("ada", "jane.doe", "cy"), without_homes=False)
    assert found == "homes: 2 of 3 users have a volume named jupyterhub-user-{username}"
    forgot = DeploymentNames("new")
    with pytest.raises(AdoptionError, match=r"no user has a home volume named new-home-\{username\}.*spawner.homeVolumeTemplate"):
        home_volumes_found(client, forgot, ("ada", "jane.doe"), without_homes=False)
    assert home_volumes_found(client, forgot, ("ada",), without_homes=True).startswith("homes: 0 of 1")
    assert home_volumes_found(client, forgot, (), without_homes=False).startswith("homes: 0 of 0")


def test_the_disk_report_lists_homes_largest_first_the_shared_volumes_and_the_deployments_images() -> None:
    usage = {
        "Volumes": [
            {"Name": "hub-home-ada", "UsageData": {"Size": 5 * 1024**2}},
            {"Name": "hub-home-bob", "UsageData": {"Size": 9 * 1024**2}},
            {"Name": "hub-home-cy", "UsageData": {"Size": -1}},  # the engine did not measure it
            {"Name": "hub-hub-data", "UsageData": {"Size": 1024**2}},
            {"Name": "hub-shared-team", "UsageData": {"Size": 2 * 1024**2}},
            {"Name": "hub-shared-course", "UsageData": {"Size": 3 * 1024**2}},
            {"Name": "other", "UsageData": {"Size": 99 * 1024**2}},
        ],
        "Images": [
            {"Labels": {"org.jupyterhub-docker.built-for": "hub"}, "Size": 400 * 1024**2, "Containers": 1},
            {"Labels": {"org.jupyterhub-docker.built-for": "hub"}, "Size": 100 * 1024**2, "Containers": 0},
            {"Labels": {"org.jupyterhub-docker.built-for": "hub-2"}, "Size": 100 * 1024**2, "Containers": 0},
            {"Labels": None, "Size": 1, "Containers": 0},
        ],
        "BuildCache": [{"Size": 3 * 1024**2}],
    }
    assert usage_lines(usage, DeploymentNames("hub")) == [
        "home volumes (3, 14.0 MB, largest first):",
        "         9.0 MB  hub-home-bob",
        "         5.0 MB  hub-home-ada",
        "         0.0 MB  hub-home-cy",
        "hub data: 1.0 MB  hub-hub-data",
        "shared volume: 3.0 MB  hub-shared-course",
        "shared volume: 2.0 MB  hub-shared-team",
        "images built for hub: 2, 500 MB with shared layers; 1 of them used by no container "
        "(admin.prune_images removes the ones no longer needed)",
        "build cache (all builds on this engine): 3 MB (docker builder prune frees it)",
    ]


def test_the_adoption_summary_says_each_number_and_what_the_hub_does_next() -> None:
    names = DeploymentNames("course")
    current = AdoptedDatabase(HUB_HEAD, ("ada", "bob"), api_tokens=3, native_users=1, cleared_servers=())
    assert summary(current, names) == [
        "adopted into course-hub-data: 2 hub users (1 signed up with NativeAuthenticator passwords), 3 API tokens, "
        "the cookie secret (logins stay valid)",
        f"database schema {HUB_HEAD}: current",
    ]
    older = AdoptedDatabase("4621fec11365", ("ada",), api_tokens=0, native_users=0, cleared_servers=("ada", "ada/lab"))
    assert summary(older, names) == [
        "adopted into course-hub-data: 1 hub users (0 signed up with NativeAuthenticator passwords), 0 API tokens, "
        "the cookie secret (logins stay valid)",
        "database schema 4621fec11365: the hub upgrades it on its first start",
        "cleared servers the old hub recorded as running: ada, ada/lab",
    ]
