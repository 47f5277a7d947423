"""A new notebook image reaches new servers only; the old one stays for rollback."""

from __future__ import annotations

import re

from admin.archives import packed
from testkit.harness import CONTAINER, HARNESS_LABEL, IMAGE
from testkit.hub_user import HubUser, user_with_a_server
from tests.e2e.deployed import E2E_NAME, NAMES, Deployed, admin_command, measure, set_stack_config


def server_image(deployed: Deployed, user: str) -> str:
    return str(deployed.client.containers.get(NAMES.user_server(user)).attrs["Config"]["Image"])


def test_new_image_for_new_servers_old_kept_and_rollback(deployed: Deployed, alice: HubUser) -> None:
    old_ref = deployed.first_apply.run.exports["notebookImage"]
    assert server_image(deployed, "alice") == old_ref
    dockerfile = deployed.project_dir / "build.notebook" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + 'ENV NOTEBOOK_REVISION="e2e-2"\n')

    applied = deployed.apply()
    new_ref = applied.run.exports["notebookImage"]
    measure(f"notebook image update applied in {applied.seconds:.1f}s")
    assert new_ref != old_ref
    assert applied.action(IMAGE, "notebook-image") == "update"  # the provider never replaces an Image
    assert applied.action(CONTAINER, "hub") == "replace"
    assert applied.action(CONTAINER, "proxy") == "same"

    assert server_image(deployed, "alice") == old_ref, "a running server must keep its image"
    bob = user_with_a_server(deployed.base_url, "bob")
    assert server_image(deployed, "bob") == new_ref
    assert bob.run_code("import os; os.environ['NOTEBOOK_REVISION']") == "'e2e-2'"
    assert deployed.client.images.get(old_ref), "the previous image stays on the host"

    rolled_back = deployed.apply({"notebookRollbackImage": old_ref})
    assert rolled_back.run.exports["notebookImageInUse"] == old_ref
    assert rolled_back.action(CONTAINER, "hub") == "replace"
    bob.stop_server()
    bob.start_server()
    assert server_image(deployed, "bob") == old_ref

    deployed.apply()  # back to the current image for the scenarios that follow
    bob.stop_server()


PRUNE_LAYER = re.compile(r"RUN head -c 3000000 /dev/urandom > /opt/notebook/prune-[0-9]+\.bin\n")


def build_notebook(deployed: Deployed, revision: str) -> str:
    """A new build with a 3 MB layer no other image has (it replaces the previous build's)."""
    dockerfile = deployed.project_dir / "build.notebook" / "Dockerfile"
    layer = f"RUN head -c 3000000 /dev/urandom > /opt/notebook/{revision}.bin\n"
    original = PRUNE_LAYER.sub("", dockerfile.read_text())
    dockerfile.write_text(original.replace("USER jovyan\n", f"{layer}USER jovyan\n", 1))
    return str(deployed.apply().run.exports["notebookImage"])


def test_pruning_frees_old_builds_and_keeps_what_is_running_offered_or_rolled_back_to(deployed: Deployed, alice: HubUser) -> None:
    running = server_image(deployed, "alice")  # alice's server keeps the image it started with
    builds = [build_notebook(deployed, f"prune-{n}") for n in range(2)]
    saved = deployed.client.images.get(builds[1])
    saved.tag("jhe2e-saved-notebook", "kept")  # an operator kept a removable build under a name of their own
    builds += [build_notebook(deployed, f"prune-{n}") for n in (2, 3)]  # builds are ordered by when they were tagged
    rollback, newest = builds[0], builds[-1]
    set_stack_config(deployed.project_dir, {"notebookRollbackImage": rollback, "build": {"keepBuilds": 1}})
    deployed.apply()
    deployed.client.api.import_image_from_data(
        packed({}), repository=f"{E2E_NAME}-notebook", tag="foreign", changes=[f"LABEL {HARNESS_LABEL}=1"]
    )
    try:
        planned = admin_command(deployed.project_dir, "admin.prune_images")
        assert planned.returncode == 0, planned.stderr
        removable = {line.split()[2].rstrip(",") for line in planned.stdout.splitlines() if line.startswith("would remove")}
        # Older builds of earlier scenarios (or runs) go too; what is running, offered or newest stays.
        assert set(builds[1:-1]) <= removable and not removable & {running, rollback, newest}, planned.stdout
        assert f"keep    {rollback}: notebookRollbackImage" in planned.stdout
        assert f"keep    {newest}: one of the 1 newest notebook builds" in planned.stdout
        assert all(deployed.client.images.get(ref) for ref in builds), "a dry run removes nothing"

        applied = admin_command(deployed.project_dir, "admin.prune_images", "--apply")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        freed = applied.stdout.splitlines()[-1]
        measure(f"prune_images: {freed}")
        assert freed.startswith("freed at least ") and int(freed.split()[3]) >= 3, applied.stdout  # a build's own layer
        remaining = {tag for image in deployed.client.images.list() for tag in image.tags}
        assert not remaining & set(builds[1:-1])
        assert {running, rollback, newest, "jhe2e-saved-notebook:kept", f"{E2E_NAME}-notebook:foreign"} <= remaining
        assert deployed.client.images.get("jhe2e-saved-notebook:kept").id == saved.id
        assert deployed.client.containers.get(NAMES.user_server("alice")).status == "running"
    finally:
        deployed.client.images.remove("jhe2e-saved-notebook:kept")
        deployed.client.images.remove(f"{E2E_NAME}-notebook:foreign")
        set_stack_config(deployed.project_dir, {"notebookRollbackImage": "", "build": {"keepBuilds": 3}})
        deployed.apply()  # no rollback, for the scenarios that follow


def test_disk_usage_lists_users_homes_largest_first(deployed: Deployed, alice: HubUser) -> None:
    assert alice.run_code("open('/home/jovyan/big.bin', 'wb').write(b'x' * 3_000_000)") == "3000000"
    report = admin_command(deployed.project_dir, "admin.disk")
    assert report.returncode == 0, report.stderr
    homes = [
        line.split()[-1]
        for line in report.stdout.splitlines()
        if line.strip().endswith(tuple(NAMES.home_volume(u) for u in ("alice", "bob")))
    ]
    assert homes[0] == NAMES.home_volume("alice"), report.stdout
    assert alice.run_code("import os; os.remove('/home/jovyan/big.bin') or 'removed'") == "'removed'"
