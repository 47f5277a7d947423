"""What admin.restore, admin.prune_images, admin.swarm_home and admin.lock print, pinned whole:
a changed word, a value left out or an f-string left unformatted fails here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from docker.models.images import Image

from admin.lock import NPM_CONTEXTS, PYTHON_CONTEXTS, lock_report
from admin.prune_images import Plan, plan_lines, removal_lines
from admin.restore import RestoreError, check_servers_stopped, chosen, homes_to_restore, restore_report, snapshot_list
from admin.restore import printed as restore_printed
from admin.swarm_home import HomeError, SwarmHomes, check_target, moved_report, pinned_report, released_report
from admin.swarm_home import printed as swarm_home_printed
from components.locks import NPM_LOCK, NPM_PINS, PINS, PYTHON_LOCK
from components.names import DeploymentNames
from testkit.program_runner import REPO_ROOT
from tests.unit.test_swarm_home import NODES, STICKY, Manager

MB = 1024**2

# --- admin.restore ----------------------------------------------------------

# Entries of `backup snapshots` (restic's `snapshots --json`), as admin.restore reads them.
HUB_ONLY = {
    "time": "2026-11-29T03:00:04.918273645Z",
    "paths": ["/stage/hub-data"],
    "hostname": "hub",
    "id": "aaaa1111" + "0" * 56,
    "short_id": "aaaa1111",
}
WITH_HOMES = {
    "time": "2026-11-30T03:00:05.123456789Z",
    "paths": ["/stage/hub-data", "/volumes/hub-home-ada/_data", "/volumes/hub-home-jane-2edoe/_data"],
    "hostname": "hub",
    "id": "bbbb2222" + "0" * 56,
    "short_id": "bbbb2222",
}
NAMES = DeploymentNames("hub")


def test_the_snapshot_list_gives_each_snapshots_id_time_to_the_second_and_homes() -> None:
    assert snapshot_list([HUB_ONLY, WITH_HOMES]) == [
        "aaaa1111  2026-11-29T03:00:04  0 homes",
        "bbbb2222  2026-11-30T03:00:05  2 homes",
    ]
    assert snapshot_list([]) == []


def test_a_full_restore_reports_the_servers_and_hub_it_stopped_and_what_came_back() -> None:
    homes = homes_to_restore(NAMES, WITH_HOMES, [])
    assert homes == ["hub-home-ada", "hub-home-jane-2edoe"]
    report = restore_report(NAMES, WITH_HOMES, ["jupyter-hub_ada"], len(homes), with_hub_data=True)
    assert [restore_printed(line) for line in report] == [
        "restore: stopped jupyter-hub_ada",
        "restore: stopped hub-hub",
        "restore: started hub-hub",
        "restore: restored 2 homes and the hub's data from snapshot bbbb2222 of 2026-11-30T03:00:05.123456789Z",
    ]


def test_a_home_restore_reports_only_the_users_homes() -> None:
    homes = homes_to_restore(NAMES, WITH_HOMES, ["jane.doe"])
    assert homes == ["hub-home-jane-2edoe"]
    report = restore_report(NAMES, WITH_HOMES, [], len(homes), with_hub_data=False)
    assert [restore_printed(line) for line in report] == [
        "restore: restored 1 home from snapshot bbbb2222 of 2026-11-30T03:00:05.123456789Z"
    ]
    two = restore_report(NAMES, WITH_HOMES, ["jupyter-hub_ada", "jupyter-hub_jane-2edoe"], 2, with_hub_data=False)
    assert [restore_printed(line) for line in two] == [
        "restore: stopped jupyter-hub_ada",
        "restore: stopped jupyter-hub_jane-2edoe",
        "restore: restored 2 homes from snapshot bbbb2222 of 2026-11-30T03:00:05.123456789Z",
    ]


def refusal(error: pytest.ExceptionInfo[RestoreError]) -> str:
    return restore_printed(str(error.value))


def test_a_refused_restore_prints_why_and_the_fix() -> None:
    with pytest.raises(RestoreError) as missing:
        homes_to_restore(NAMES, WITH_HOMES, ["ada", "cy", "zoë"])
    assert refusal(missing) == "restore: snapshot bbbb2222 has no home of cy, zo\\xeb"
    with pytest.raises(RestoreError) as running:
        check_servers_stopped(["jupyter-hub_ada", "jupyter-hub_jane-2edoe"], stop_servers=False)
    assert refusal(running) == (
        "restore: servers using these homes are running: jupyter-hub_ada, jupyter-hub_jane-2edoe. "
        "Fix: stop them (the hub's admin page), or run this again with --stop-servers"
    )
    check_servers_stopped(["jupyter-hub_ada"], stop_servers=True)
    check_servers_stopped([], stop_servers=False)
    with pytest.raises(RestoreError) as unknown:
        chosen([HUB_ONLY, WITH_HOMES], "cccc")
    assert refusal(unknown) == "restore: no single snapshot 'cccc'. Fix: pick an ID from --list"
    with pytest.raises(RestoreError) as empty:
        chosen([], "latest")
    assert refusal(empty) == (
        "restore: the repository has no snapshot of this deployment yet (docker exec <name>-backup backup now)"
    )


# --- admin.prune_images -----------------------------------------------------


def image(hex_digit: str, tags: list[str], role: str | None) -> Image:
    """An image as the engine's inspect describes it (the fields admin.prune_images reads)."""
    labels = {"org.jupyterhub-docker.built-for": "hub", **({"org.jupyterhub-docker.image": role} if role else {})}
    return Image(attrs={"Id": f"sha256:{hex_digit * 64}", "RepoTags": tags, "Config": {"Labels": labels}})


OFFERED = image("a", ["hub-notebook:3f2a1b"], "notebook")
PREVIOUS = image("b", ["hub-notebook:9c8d7e"], "notebook")
RUNNING_HUB = image("c", ["hub-hub:5e6f70", "registry.example:5000/hub-hub:5e6f70"], "hub")
OLD_NOTEBOOK = image("d", ["hub-notebook:0a1b2c"], "notebook")
UNTAGGED_HUB = image("e", ["<none>:<none>"], "hub")
UNTAGGED_UNKNOWN = image("f", [], None)
# (Size, SharedSize) of each, from the engine's `GET /system/df`; the unknown image is not in it.
SIZES = {
    OFFERED.id: (470 * MB, 430 * MB),
    PREVIOUS.id: (470 * MB, 430 * MB),
    RUNNING_HUB.id: (310 * MB, 0),
    OLD_NOTEBOOK.id: (470 * MB + 300_000, 430 * MB),
    UNTAGGED_HUB.id: (309 * MB + 700_000, 0),
}
KEPT = {image.id: image for image in (OFFERED, PREVIOUS, RUNNING_HUB)}
PLAN = Plan(
    [OLD_NOTEBOOK, UNTAGGED_HUB, UNTAGGED_UNKNOWN],
    {
        RUNNING_HUB.id: "used by container hub-hub",
        OFFERED.id: "offered by the hub",
        PREVIOUS.id: "one of the 2 newest notebook builds",
    },
)
KEEP_LINES = [
    "keep    hub-notebook:3f2a1b: offered by the hub",
    "keep    hub-notebook:9c8d7e: one of the 2 newest notebook builds",
    "keep    hub-hub:5e6f70, registry.example:5000/hub-hub:5e6f70: used by container hub-hub",
]


def test_a_dry_run_lists_what_stays_and_why_what_would_go_and_the_space_it_would_free() -> None:
    assert plan_lines(PLAN, KEPT, SIZES, apply=False) == [
        *KEEP_LINES,
        "would remove  hub-notebook:0a1b2c (470 MB)",
        "would remove  untagged eeeeeeeeeeee (hub) (310 MB)",
        "would remove  untagged ffffffffffff (?) (0 MB)",
        "would free at least 350 MB (the layers only these images have), up to 780 MB "
        "(layers they share with kept images stay). Run with --apply",
    ]
    assert plan_lines(Plan([], {OFFERED.id: "offered by the hub"}), KEPT, SIZES, apply=False) == [
        "keep    hub-notebook:3f2a1b: offered by the hub",
        "would free at least 0 MB (the layers only these images have), up to 0 MB "
        "(layers they share with kept images stay). Run with --apply",
    ]


def test_applying_lists_what_goes_then_what_the_engine_refused_and_the_space_freed() -> None:
    assert plan_lines(PLAN, KEPT, SIZES, apply=True) == [
        *KEEP_LINES,
        "remove  hub-notebook:0a1b2c (470 MB)",
        "remove  untagged eeeeeeeeeeee (hub) (310 MB)",
        "remove  untagged ffffffffffff (?) (0 MB)",
    ]
    in_use = "conflict: unable to delete eeeeeeeeeeee (cannot be forced) - image is being used by running container 4d5e6f7a8b9c"
    assert removal_lines([(UNTAGGED_HUB, in_use)], [OLD_NOTEBOOK, UNTAGGED_UNKNOWN], SIZES) == [
        f"kept    untagged eeeeeeeeeeee (hub): the engine refused ({in_use})",
        "freed at least 40 MB (the removed images' own layers)",
    ]
    assert removal_lines([], [], SIZES) == ["freed at least 0 MB (the removed images' own layers)"]


# --- admin.swarm_home -------------------------------------------------------


def swarm_home_output(report: list[str]) -> list[str]:
    return [swarm_home_printed(line) for line in report]


def test_where_a_home_is_is_its_node_or_none_yet() -> None:
    assert swarm_home_output(pinned_report("ada", "node-1")) == ["swarm_home: ada's home: node-1"]
    assert swarm_home_output(pinned_report("bob", "")) == ["swarm_home: bob's home: not pinned to a node"]


def test_a_move_reports_the_copy_and_its_time_the_hubs_restart_and_where_the_old_copy_stays() -> None:
    assert swarm_home_output(moved_report("ada", "jh-home-ada", "node-1", "node-2", 12.345, "jh-hub")) == [
        "swarm_home: copied jh-home-ada from node-1 to node-2 in 12.3s",
        "swarm_home: stopped jh-hub",
        "swarm_home: started jh-hub",
        "swarm_home: ada's home is on node-2; the old copy stays on node-1 (docker volume rm there once checked)",
    ]


def test_a_release_reports_the_hubs_restart_and_that_the_home_is_not_copied() -> None:
    assert swarm_home_output(released_report("ada", "node-1", "jh-hub")) == [
        "swarm_home: stopped jh-hub",
        "swarm_home: started jh-hub",
        "swarm_home: ada's next server starts on any node, with that node's home (the one on node-1 is not copied)",
    ]
    assert swarm_home_output(released_report("bob", "", "jh-hub")) == [
        "swarm_home: bob's home is not pinned to a node: nothing to release"
    ]
    # The release itself, against the fake manager of test_swarm_home.py: ada's home is pinned to node-2 there.
    assert SwarmHomes(Manager(), STICKY).release("ada") == released_report("ada", "node-2", "jh-hub")  # type: ignore[arg-type]


def test_a_refused_move_prints_why_in_ascii() -> None:
    with pytest.raises(HomeError) as unknown:
        check_target(NODES, "nöde-9", "node-1", ["node.role == worker"])
    assert swarm_home_printed(str(unknown.value)) == (
        "swarm_home: no node 'n\\xf6de-9' in the swarm (nodes: manager, node-1, node-2, node-3, node-4)"
    )
    with pytest.raises(HomeError) as paused:
        check_target(NODES, "node-3", "node-1", ["node.role == worker"])
    assert swarm_home_printed(str(paused.value)) == (
        "swarm_home: node-3 may not run users' servers now (ready: True, active: False, cluster.userPlacement "
        "['node.role == worker']). Fix: choose another node, or make it available (docker node update --availability active)"
    )


# --- admin.lock -------------------------------------------------------------


@pytest.fixture
def locked_project(tmp_path: Path) -> Path:
    """The build folders' pins and locks, copied from this repository (where every lock matches)."""
    for folder in (*PYTHON_CONTEXTS, *NPM_CONTEXTS):
        (tmp_path / folder).mkdir(parents=True)
        for name in (PINS, PYTHON_LOCK, NPM_PINS, NPM_LOCK):
            if (REPO_ROOT / folder / name).is_file():
                shutil.copy(REPO_ROOT / folder / name, tmp_path / folder / name)
    return tmp_path


def test_each_build_folder_is_reported_locked(locked_project: Path) -> None:
    assert lock_report(locked_project) == (
        [
            "admin.lock: hub_config: locked",
            "admin.lock: build.notebook: locked",
            "admin.lock: tests/e2e/hub-5.5.1: locked",
            "admin.lock: build.proxy: locked",
        ],
        True,
    )


def test_the_report_stops_at_the_first_folder_whose_lock_does_not_match(locked_project: Path) -> None:
    notebook = locked_project / "build.notebook"
    (notebook / PINS).write_text((notebook / PINS).read_text() + "pandas==2.3.3\n")
    assert lock_report(locked_project) == (
        [
            "admin.lock: hub_config: locked",
            f"admin.lock: build.notebook: {notebook}/requirements.lock is out of date with {notebook}/requirements.txt. "
            "Fix: run `venv/bin/python -m admin.lock`",
        ],
        False,
    )
    (notebook / PINS).write_text((REPO_ROOT / "build.notebook" / PINS).read_text())
    (locked_project / "build.proxy" / NPM_LOCK).unlink()
    assert lock_report(locked_project) == (
        [
            "admin.lock: hub_config: locked",
            "admin.lock: build.notebook: locked",
            "admin.lock: tests/e2e/hub-5.5.1: locked",
            f"admin.lock: build.proxy: {locked_project}/build.proxy/package-lock.json is missing. "
            "Fix: run `venv/bin/python -m admin.lock`",
        ],
        False,
    )
