"""admin/swarm_home.py and admin/spawner_state.py: the pin of a sticky home is read and
changed only in the user's default server's state, and a move goes only to a node that
may take the user's server, from a node that is up."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from admin.spawner_state import RELEASE, pinned_node
from admin.swarm_home import HomeError, SwarmHomes, check_target
from components.config import parse_config
from tests.unit.test_swarm import node

OTHER_STATE = {"object_id": "abc", "object_name": "jupyter-x_ada"}


@pytest.fixture
def database(tmp_path: Path) -> str:
    """The columns of JupyterHub's users and spawners tables the pin lives in."""
    path = tmp_path / "jupyterhub.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("CREATE TABLE spawners (id INTEGER PRIMARY KEY, user_id INTEGER, name TEXT, state TEXT)")
        connection.executemany("INSERT INTO users VALUES (?, ?)", [(1, "ada"), (2, "bob")])
        connection.executemany(
            "INSERT INTO spawners VALUES (?, ?, ?, ?)",
            [
                (1, 1, "", json.dumps({**OTHER_STATE, "home_node": "node-1"})),
                (2, 1, "gpu", json.dumps({"home_node": "node-9"})),  # a named server: never touched
                (3, 2, "", None),
            ],
        )
    return str(path)


def states(database: str) -> dict[int, dict]:
    with sqlite3.connect(database) as connection:
        return {i: json.loads(s) if s else {} for i, s in connection.execute("SELECT id, state FROM spawners")}


def test_the_pin_is_read_moved_and_released_in_the_default_servers_state(database: str) -> None:
    assert pinned_node(database, "ada", None) == "node-1"
    assert pinned_node(database, "bob", None) == ""
    assert pinned_node(database, "ada", "node-2") == "node-2"
    assert states(database)[1] == {**OTHER_STATE, "home_node": "node-2"}
    assert pinned_node(database, "ada", RELEASE) == ""
    assert states(database) == {1: OTHER_STATE, 2: {"home_node": "node-9"}, 3: {}}


def test_reading_never_writes_and_an_unknown_user_is_named(database: str) -> None:
    before = Path(database).read_bytes()
    pinned_node(database, "ada", None)
    assert Path(database).read_bytes() == before
    with pytest.raises(LookupError, match="no user 'eve'"):
        pinned_node(database, "eve", "node-2")


NODES = [
    node("node-1"),
    node("node-2"),
    node("node-3", availability="pause"),
    node("node-4", state="down"),
    node("manager", role="manager"),
]


@pytest.mark.parametrize(
    ("target", "source", "refused"),
    [
        ("node-2", "node-1", None),
        ("node-9", "node-1", "no node 'node-9'"),
        ("node-1", "node-1", "already on node-1"),
        ("node-3", "node-1", "node-3 may not run users' servers now"),
        ("node-4", "node-1", "node-4 may not run users' servers now"),
        ("manager", "node-1", "manager may not run users' servers now"),  # cluster.userPlacement
        ("node-2", "node-4", "node-4 is down: nothing can be copied"),
        ("node-2", "gone", "gone is not in the swarm"),
    ],
)
def test_a_home_moves_only_to_a_node_that_may_take_the_server_from_one_that_is_up(
    target: str, source: str, refused: str | None
) -> None:
    if refused is None:
        check_target(NODES, target, source, ["node.role == worker"])
    else:
        with pytest.raises(HomeError, match=refused):
            check_target(NODES, target, source, ["node.role == worker"])


@pytest.mark.parametrize(
    "cluster",
    [{}, {"mode": "swarm", "registry": "r:5000", "homes": "shared", "homeVolumeOptions": {"type": "nfs"}}],
)
def test_only_sticky_swarm_homes_have_a_pin(cluster: dict) -> None:
    config = parse_config({"dockerApiProxy": False, "cluster": cluster}, {})
    with pytest.raises(HomeError, match=r"only with cluster\.mode swarm and cluster\.homes sticky"):
        SwarmHomes(None, config)  # type: ignore[arg-type]
