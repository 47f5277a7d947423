"""hub_config/profiles.py: which profiles a user may start, what a start gets, and the spawn form."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from typing import Any

import pytest

from testkit.program_runner import REPO_ROOT

_SPEC = importlib.util.spec_from_file_location("hub_profiles", REPO_ROOT / "hub_config" / "profiles.py")  # the hub image's
assert _SPEC and _SPEC.loader
profiles = sys.modules["hub_profiles"] = importlib.util.module_from_spec(_SPEC)  # dataclasses look their module up
_SPEC.loader.exec_module(profiles)

SMALL = profiles.Profile("small", "Exercises <b>", "lab:1", 512 * 1024**2, 0.5, ())
LARGE = profiles.Profile("large", "", "lab:1", 8 * 1024**3, 4.0, ("staff", "research"))
GPU = profiles.Profile("gpu", "", "lab-gpu:1", 16 * 1024**3, 2.0, ("research",))
ALL = [SMALL, LARGE, GPU]


@pytest.mark.parametrize(
    ("groups", "options", "expected"),
    [
        (set(), {}, SMALL),
        ({"staff"}, {"profile": "large"}, LARGE),
        ({"research"}, {"profile": "gpu"}, GPU),
        ({"research", "other"}, {"profile": "small"}, SMALL),
        ({"staff"}, {"profile": ""}, SMALL),  # the form's empty choice: the first open to the user
    ],
)
def test_a_start_gets_the_named_profile_when_the_users_groups_allow_it(
    groups: set[str], options: dict[str, Any], expected: Any
) -> None:
    assert profiles.chosen(ALL, groups, options) == expected


@pytest.mark.parametrize(
    ("groups", "options", "status", "message"),
    [
        (set(), {"profile": "large"}, 403, "The profile large is for members of staff, research, and you are in none."),
        ({"staff"}, {"profile": "gpu"}, 403, "The profile gpu is for members of research, and you are in none."),
        (set(), {"profile": "huge"}, 400, "No server profile 'huge'; yours: small"),
        (set(), {"profile": ["small"]}, 400, "No server profile \"['small']\"; yours: small"),
        (set(), {"profile": 7}, 400, "No server profile '7'; yours: small"),
    ],
)
def test_a_profile_the_user_may_not_have_is_refused_saying_why(
    groups: set[str], options: dict[str, Any], status: int, message: str
) -> None:
    with pytest.raises(profiles.ProfileError) as refused:
        profiles.chosen(ALL, groups, options)
    assert (refused.value.status, str(refused.value)) == (status, message)


def test_a_user_in_no_profiles_group_is_told_which_groups_open_one() -> None:
    with pytest.raises(profiles.ProfileError) as refused:
        profiles.chosen([LARGE, GPU], {"students"}, {})
    assert (refused.value.status, str(refused.value)) == (
        403,
        "No server profile is open to you: each is for members of research, staff. Ask an administrator.",
    )


def test_the_form_lists_the_usable_profiles_with_their_limits_escaped_and_the_first_checked() -> None:
    form = profiles.spawn_form(profiles.usable(ALL, {"staff"}))
    assert form.count('type="radio" name="profile"') == 2 and 'value="gpu"' not in form
    assert 'value="small" checked' in form and 'value="large">' in form
    assert "(0.5 CPU, 512M memory) — Exercises &lt;b&gt;" in form and "(4 CPU, 8G memory)" in form
    assert profiles.spawn_form([SMALL]) == "" and profiles.spawn_form([]) == ""


def test_the_form_gives_the_chosen_profile_and_nothing_else() -> None:
    assert profiles.options_from_form({"profile": ["large"], "image": ["evil:1"]}) == {"profile": "large"}
    assert profiles.options_from_form({}) == {}


@pytest.mark.parametrize(
    ("size", "shown"),
    [(1024, "1K"), (3 * 1024**4, "3T"), (1536 * 1024, "1536K"), (2 * 1024**3, "2G"), (1000, "1000 bytes"), (1023, "1023 bytes")],
)
def test_the_form_shows_memory_in_the_largest_whole_unit(size: int, shown: str) -> None:
    form = profiles.spawn_form([SMALL, profiles.Profile("odd", "", "lab:1", size, 1.0, ())])
    assert form.startswith("<p>Choose a server profile:</p>\n") and f"(1 CPU, {shown} memory)" in form


def test_a_user_with_no_profile_open_asking_for_one_is_told_they_have_none() -> None:
    with pytest.raises(profiles.ProfileError, match=r"^No server profile 'huge'; yours: \(none\)$"):
        profiles.chosen([LARGE], set(), {"profile": "huge"})


def test_a_profile_cannot_be_changed_once_read() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SMALL.image = "other:1"  # type: ignore[misc]


COURSE = profiles.SharedVolume("jh-shared-course", "/home/jovyan/course", "ro", ())
TEAM = profiles.SharedVolume.from_traits({"volume": "jh-shared-team", "path": "/srv/team", "mode": "rw", "groups": ["a", "b"]})


def test_a_shared_volume_cannot_be_changed_once_read() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        COURSE.mode = "rw"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("groups", "mounted"),
    [(set(), ["jh-shared-course"]), ({"b"}, ["jh-shared-course", "jh-shared-team"]), ({"c"}, ["jh-shared-course"])],
)
def test_a_user_gets_everyones_shared_volumes_and_those_of_their_groups(groups: set[str], mounted: list[str]) -> None:
    binds = profiles.shared_binds([COURSE, TEAM], groups)
    assert list(binds) == mounted
    assert binds["jh-shared-course"] == {"bind": "/home/jovyan/course", "mode": "ro"}
    if "jh-shared-team" in binds:
        assert binds["jh-shared-team"] == {"bind": "/srv/team", "mode": "rw"}


ONE_EACH = profiles.Profile("gpu", "", "lab:1", 1024**3, 1.0, (), gpus=1, gpu_ids=("0", "1", "2"))
PAIR = profiles.Profile("pair", "", "lab:1", 1024**3, 1.0, (), gpus=2, gpu_ids=("0", "1", "2"))
SHARED = profiles.Profile("demo", "", "lab:1", 1024**3, 1.0, (), gpus=1, gpu_ids=("2",), gpus_shared=True)


@pytest.mark.parametrize(
    ("profile", "in_use", "given"),
    [
        (ONE_EACH, [], ("0",)),
        (ONE_EACH, ["0", "2"], ("1",)),
        (PAIR, ["1"], ("0", "2")),
        (SHARED, ["2"], ("2",)),  # shared: whoever holds it
        (SMALL, ["0"], ()),
    ],
)
def test_a_server_gets_the_first_gpus_no_running_server_holds(profile: Any, in_use: list[str], given: tuple[str, ...]) -> None:
    assert profiles.free_gpus(profile, in_use) == given


def test_a_gpu_profile_with_too_few_free_is_refused_saying_how_many_are_free() -> None:
    with pytest.raises(profiles.ProfileError) as refused:
        profiles.free_gpus(PAIR, ["0", "1"])
    assert (refused.value.status, str(refused.value)) == (
        503,
        "The profile pair needs 2 GPU(s) of its own, and only 1 of its 3 are free now (other servers use them). "
        "Try again later, or choose another profile.",
    )


def test_the_form_shows_a_profiles_gpus() -> None:
    assert "(1 CPU, 1G memory, 2 GPU)" in profiles.spawn_form([SMALL, PAIR])
    assert "GPU" not in profiles.spawn_form([SMALL, LARGE])
