"""admin/swarm_home.py and admin/spawner_state.py: the pin of a sticky home is read and
changed only in the user's default server's state, and a move goes only to a node that
may take the user's server, from a node that is up."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import docker.errors
import pytest

from admin import swarm_home
from admin.home_copy import HOME_NOT_EMPTY
from admin.spawner_state import RELEASE, pinned_node
from admin.swarm_home import HomeError, SwarmHomes, check_target
from components.config import parse_config
from testkit.endpoints import free_loopback_port
from testkit.program_runner import REPO_ROOT
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


def copied(source: Path, target: Path) -> tuple[int, int]:
    """Run both ends of admin/home_copy.py here, over this host's loopback: (sender's, receiver's) exit codes."""
    port = free_loopback_port()
    script = str(REPO_ROOT / "admin" / "home_copy.py")
    with subprocess.Popen([sys.executable, script, "send", str(source), str(port)]) as sender:
        receiver = subprocess.run([sys.executable, script, "receive", str(target), "127.0.0.1", str(port)], timeout=60)
        return sender.wait(timeout=60), receiver.returncode


@pytest.mark.skipif(os.geteuid() != 0, reason="owners are kept only by root, as the copy's services run")
def test_a_home_is_copied_with_hidden_files_owners_modes_links_and_sparse_files(tmp_path: Path) -> None:
    source, target = tmp_path / "from", tmp_path / "to"
    (source / "work" / ".ipynb_checkpoints").mkdir(parents=True)
    target.mkdir()
    (source / ".bashrc").write_text("hidden")
    (source / "work" / "secret.txt").write_text("only mine")
    (source / "work" / "secret.txt").chmod(0o600)
    (source / "work" / "link").symlink_to("/etc/passwd")
    with open(source / "sparse.bin", "wb") as sparse:
        sparse.truncate(64 * 1024**2)
    for path in [source, *source.rglob("*")]:
        os.lchown(path, 1000, 1000)

    assert copied(source, target) == (0, 0)

    def described(root: Path) -> dict[str, tuple[int, int, int]]:
        return {str(p.relative_to(root)): (p.lstat().st_mode, p.lstat().st_uid, p.lstat().st_gid) for p in root.rglob("*")}

    assert described(target) == described(source)
    assert (target.stat().st_uid, target.stat().st_mode) == (1000, source.stat().st_mode)  # the home folder itself
    assert (target / "work" / "secret.txt").read_text() == "only mine"
    assert os.readlink(target / "work" / "link") == "/etc/passwd"  # a link, not what it points to
    assert (target / "sparse.bin").stat().st_blocks < 1024  # kept sparse: 64 MB of holes take no disk


def test_a_target_home_with_files_is_left_alone(tmp_path: Path) -> None:
    source, target = tmp_path / "from", tmp_path / "to"
    source.mkdir()
    target.mkdir()
    (source / "new.txt").write_text("new")
    (target / "old.txt").write_text("old")
    port = free_loopback_port()
    script = str(REPO_ROOT / "admin" / "home_copy.py")
    refused = subprocess.run([sys.executable, script, "receive", str(target), "127.0.0.1", str(port)], timeout=60)
    assert refused.returncode == HOME_NOT_EMPTY
    assert [p.name for p in target.iterdir()] == ["old.txt"]


def test_a_failed_send_fails_the_copy(tmp_path: Path) -> None:
    (tmp_path / "to").mkdir()
    sent, received = copied(tmp_path / "missing", tmp_path / "to")
    assert sent != 0 and received != 0


class Hub:
    def __init__(self, calls: list[str]) -> None:
        self.calls, self.id, self.name = calls, "hub-id", "jh-hub"
        self.image = SimpleNamespace(id="hub-image")
        self.attrs = {"Config": {"User": ""}, "State": {"Health": {"Status": "healthy"}}}

    def stop(self, timeout: int) -> None:
        self.calls.append("stop hub")

    def start(self) -> None:
        self.calls.append("start hub")


class Manager:
    """The manager's engine as admin/swarm_home.py uses it to change a pin."""

    def __init__(self, edit_fails: bool = False, server_tasks: list[dict] | None = None) -> None:
        self.calls: list[str] = []
        hub = Hub(self.calls)
        self.containers = SimpleNamespace(get=lambda name: hub, run=self._run)
        self.edit_fails = edit_fails
        service = SimpleNamespace(name="jupyter-jh_ada", tasks=lambda: server_tasks or [], remove=lambda: self.calls.append("rm"))
        self.services = SimpleNamespace(list=lambda filters: [service] if server_tasks is not None else [])

    def _run(self, image: str, command: list[str], **kwargs: object) -> bytes:
        self.calls.append(f"edit {command[5:]}" if len(command) > 6 else "read")
        if self.edit_fails:
            raise docker.errors.ContainerError("c", 1, command, image, b"the hub has no user 'ada' with a server")
        return b'"node-2"'


STICKY = parse_config({"name": "jh", "dockerApiProxy": False, "cluster": {"mode": "swarm", "registry": "r:5000"}}, {})


def test_a_pin_is_changed_only_with_the_hub_stopped_and_the_hub_starts_again_on_failure() -> None:
    manager = Manager()
    SwarmHomes(manager, STICKY)._set_pin("ada", "node-2")  # type: ignore[arg-type]
    assert manager.calls == ["stop hub", "edit ['ada', 'node-2']", "start hub"]
    failing = Manager(edit_fails=True)
    with pytest.raises(HomeError, match="no user 'ada'"):
        SwarmHomes(failing, STICKY)._set_pin("ada", "node-2")  # type: ignore[arg-type]
    assert failing.calls == ["stop hub", "edit ['ada', 'node-2']", "start hub"]


def test_a_running_server_stops_a_change_and_a_server_that_ended_is_cleared() -> None:
    running = Manager(server_tasks=[{"DesiredState": "running", "Status": {"State": "running"}}])
    with pytest.raises(HomeError, match="ada's server is running"):
        SwarmHomes(running, STICKY)._set_pin("ada", "node-2")  # type: ignore[arg-type]
    assert running.calls == ["stop hub", "start hub"]  # checked again with the hub stopped: nothing edited
    on_a_lost_node = Manager(server_tasks=[{"DesiredState": "shutdown", "Status": {"State": "running"}}])
    SwarmHomes(on_a_lost_node, STICKY).release("ada")  # type: ignore[arg-type]
    assert on_a_lost_node.calls[:3] == ["rm", "read", "stop hub"]


def test_what_a_container_or_the_hubs_database_says_is_printed_without_terminal_control() -> None:
    from admin.stack import printable

    assert printable("node-2\n\x1b]0;owned\x07é\r") == "node-2\n\\x1b]0;owned\\x07\\xe9\\r"


def test_every_one_off_runs_isolated_python_from_the_root_folder() -> None:
    assert swarm_home.PYTHON == ["python3", "-I"] and swarm_home.WORKDIR == "/"
    client = mock.MagicMock()
    client.containers.run.return_value = b'"node-2"'
    homes = swarm_home.SwarmHomes(client, parse_config({"cluster": {"mode": "swarm", "registry": "r:5000"}}, {}))
    assert homes.pinned_node("ada") == "node-2"
    options = client.containers.run.call_args.kwargs
    assert client.containers.run.call_args.args[1][:3] == ["python3", "-I", "-c"]
    assert (options["working_dir"], options["cap_drop"], options["security_opt"]) == ("/", ["ALL"], ["no-new-privileges"])
    assert options["network_disabled"] is True
