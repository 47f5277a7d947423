"""The e2e harness's model of pulumi-docker: what a change to each input does.

The harness stands in for the real `pulumi up`; these pin its rules (each cites the
provider source in testkit/harness.py) so a drift from the provider fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from testkit.harness import (
    CONTAINER,
    IMAGE,
    NETWORK,
    REMOTE_IMAGE,
    VOLUME,
    ApplyError,
    EngineMocks,
    UntranslatedInputError,
    _duration_ns,
    _repo_digest,
    refresh_is_always,
)
from testkit.program_runner import Registration

HUB = {"name": "jh-hub", "image": "jh-hub:1", "envs": ["A=1"], "restart": "unless-stopped", "ports": [{"internal": 8000.0}]}


def plan(typ: str, old: dict[str, Any], new: dict[str, Any], **state: Any) -> str:
    mocks = EngineMocks.__new__(EngineMocks)
    registration = Registration("urn", typ, "hub", "", True, False, False, [], replace_on_changes=["healthcheck"])
    return mocks._plan(typ, {"inputs": old, **state}, new, registration)


@pytest.mark.parametrize(
    ("change", "action"),
    [
        ({}, "same"),
        ({"envs": ["A=2"]}, "replace"),
        ({"image": "jh-hub:2"}, "replace"),
        ({"capabilities": {"drops": ["ALL"]}}, "replace"),
        ({"memory": 512.0}, "update"),
        ({"restart": "always"}, "update"),
        ({"waitTimeout": 90.0}, "update"),  # accepted, changes nothing on the engine
        ({"destroyGraceSeconds": 5.0}, "update"),
        ({"healthcheck": {"tests": ["CMD", "true"]}}, "replace"),  # only because the program asks (replace_on_changes)
        ({"mustRun": True}, "same"),  # the schema default
    ],
)
def test_container_inputs_replace_or_update_as_the_provider_schema_says(change: dict[str, Any], action: str) -> None:
    assert plan(CONTAINER, HUB, {**HUB, **change}) == action


def test_a_stopped_container_found_by_a_refresh_is_started_or_replaced_if_it_publishes_ports() -> None:
    without_ports = {k: v for k, v in HUB.items() if k != "ports"}
    assert plan(CONTAINER, without_ports, without_ports, drift={"mustRun": False}) == "update"
    assert plan(CONTAINER, HUB, HUB, drift={"mustRun": False, "ports": []}) == "replace"


def test_a_changed_image_is_an_update_and_never_a_replace() -> None:
    old = {"imageName": "jh-notebook:1", "build": {"context": "build.notebook"}, "skipPush": True}
    assert plan(IMAGE, old, {**old, "imageName": "jh-notebook:2"}) == "update"
    assert plan(IMAGE, old, old) == "same"


def test_networks_volumes_and_remote_images_follow_their_force_new_inputs() -> None:
    assert plan(NETWORK, {"name": "jh"}, {"name": "jh", "internal": True}) == "replace"
    assert plan(VOLUME, {"name": "v"}, {"name": "v", "labels": []}) == "replace"
    assert plan(REMOTE_IMAGE, {"name": "a:1", "keepLocally": True}, {"name": "a:1"}) == "update"
    assert plan(REMOTE_IMAGE, {"name": "a:1"}, {"name": "a:2"}) == "replace"


def test_an_unchanged_rerun_after_a_failed_initialization_is_refused_not_guessed() -> None:
    with pytest.raises(UntranslatedInputError, match="failed to initialize"):
        plan(CONTAINER, HUB, HUB, init_error=True)
    assert plan(CONTAINER, HUB, {**HUB, "envs": ["A=2"]}, init_error=True) == "replace"


def test_refresh_follows_the_project_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\noptions:\n  refresh: always\n")
    assert refresh_is_always(tmp_path)
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\n")
    assert not refresh_is_always(tmp_path)


def test_healthcheck_durations_are_read_as_go_durations() -> None:
    assert [_duration_ns(text) for text in ("3s", "500ms", "1m30s", "0s")] == [3 * 10**9, 5 * 10**8, 90 * 10**9, 0]
    with pytest.raises(UntranslatedInputError):
        _duration_ns("3 seconds")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("reg:5000/x:tag", "reg:5000/x@sha256:1"),  # the tag is trimmed, the registry's port kept
        ("reg:5000/x@sha256:1", "reg:5000/x@sha256:1"),
        ("reg:5000/x", "reg:5000/x@sha256:1"),
        ("elsewhere/y:1", "other@sha256:2"),  # no entry of its repository: the first
    ],
)
def test_a_remote_images_repo_digest_is_the_engines_entry_for_its_repository(name: str, expected: str) -> None:
    """TF determineRepoDigest."""
    assert _repo_digest(name, {"RepoDigests": ["other@sha256:2", "reg:5000/x@sha256:1"]}) == expected
    assert _repo_digest(name, {"RepoDigests": []}) == ""


def test_no_operation_starts_after_the_update_has_ended(tmp_path: Path) -> None:
    """A step still queued when an update fails is not applied (as the Pulumi engine stops);
    it would otherwise race the next update's writes to the same state file."""
    mocks = EngineMocks(client=None, state_file=tmp_path / "state.json", run_id="t")  # type: ignore[arg-type]
    mocks.wait_for_operations()
    late = pulumi.runtime.MockResourceArgs("docker:index/network:Network", "net", {}, None, "", True)
    with pytest.raises(ApplyError, match="docker:index/network:Network net: not applied"):
        mocks.new_resource(late)
    assert not (tmp_path / "state.json").exists()
