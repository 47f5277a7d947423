"""A new notebook image reaches new servers only; the old one stays for rollback."""

from __future__ import annotations

from testkit.harness import CONTAINER, IMAGE
from testkit.hub_user import HubUser, user_with_a_server
from tests.e2e.deployed import NAMES, Deployed, measure


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
