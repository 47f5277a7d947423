"""Server profiles and shared volumes in the hub: which a user may start (by JupyterHub group),
the spawn form that lists them, the profile a start asks for, checked against the user's
groups, and the shared volumes the user's groups give their servers.

A start names its profile in `user_options` ({"profile": name}, from the form or the REST
API); none named is the first the user may use. The Docker API filter allows only the
profiles' shapes, so this check is what keeps a profile to its groups. Standard library
only: spawners.py turns a refusal into the hub's HTTP error.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FORM_FIELD = "profile"


class ProfileError(Exception):
    """A start the user may not make: the HTTP status and the message they see."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    image: str
    mem_limit: int  # bytes
    cpu_limit: float
    groups: tuple[str, ...]  # empty: everyone
    placement: tuple[str, ...] = ()  # swarm: constraints after cluster.userPlacement
    gpus: int = 0  # GPUs each server gets
    gpu_ids: tuple[str, ...] = ()  # taken from these
    gpus_shared: bool = False  # every server gets all of gpu_ids; else each its own, none in use elsewhere

    @classmethod
    def from_traits(cls, traits: Mapping[str, Any]) -> Profile:
        return cls(
            traits["name"], traits["description"], traits["image"], traits["mem_limit"], traits["cpu_limit"],
            tuple(traits["groups"]), tuple(traits["placement"]), traits["gpus"], tuple(traits["gpu_ids"]),
            traits["gpus_shared"],
        )  # fmt: skip

    def open_to(self, groups: set[str]) -> bool:
        return not self.groups or bool(groups.intersection(self.groups))


@dataclass(frozen=True)
class SharedVolume:
    volume: str
    path: str
    mode: str  # "ro" | "rw"
    groups: tuple[str, ...]  # empty: everyone

    @classmethod
    def from_traits(cls, traits: Mapping[str, Any]) -> SharedVolume:
        return cls(traits["volume"], traits["path"], traits["mode"], tuple(traits["groups"]))


def shared_binds(volumes: Iterable[SharedVolume], groups: set[str]) -> dict[str, dict[str, str]]:
    """DockerSpawner's `volumes` entries of the shared volumes open to these groups."""
    return {
        volume.volume: {"bind": volume.path, "mode": volume.mode}
        for volume in volumes
        if not volume.groups or groups.intersection(volume.groups)
    }


def usable(profiles: Iterable[Profile], groups: set[str]) -> list[Profile]:
    return [profile for profile in profiles if profile.open_to(groups)]


def chosen(profiles: list[Profile], groups: set[str], user_options: Mapping[str, Any]) -> Profile:
    """The profile a start gets, or ProfileError saying why not."""
    open_to_user = usable(profiles, groups)
    name = user_options.get(FORM_FIELD)
    if name is None or name == "":
        if not open_to_user:
            wanted = sorted({group for profile in profiles for group in profile.groups})
            raise ProfileError(
                403, f"No server profile is open to you: each is for members of {_listed(wanted)}. Ask an administrator."
            )
        return open_to_user[0]
    by_name = {profile.name: profile for profile in profiles}
    if not isinstance(name, str) or name not in by_name:
        raise ProfileError(400, f"No server profile {str(name)[:40]!r}; yours: {_listed(p.name for p in open_to_user)}")
    if by_name[name] not in open_to_user:
        raise ProfileError(403, f"The profile {name} is for members of {_listed(by_name[name].groups)}, and you are in none.")
    return by_name[name]


def free_gpus(profile: Profile, in_use: Iterable[str]) -> tuple[str, ...]:
    """The GPUs a server of this profile gets, or ProfileError (503) when too few are free."""
    if profile.gpus_shared or not profile.gpus:
        return profile.gpu_ids
    taken = set(in_use)
    free = [gpu for gpu in profile.gpu_ids if gpu not in taken]
    if len(free) < profile.gpus:
        raise ProfileError(
            503,
            f"The profile {profile.name} needs {profile.gpus} GPU(s) of its own, and only {len(free)} of its "
            f"{len(profile.gpu_ids)} are free now (other servers use them). Try again later, or choose another profile.",
        )
    return tuple(free[: profile.gpus])


def _listed(names: Iterable[str]) -> str:
    return ", ".join(names) or "(none)"


def spawn_form(profiles: list[Profile]) -> str:
    """Radio buttons for the profiles a user may use; no form (a start at once) when there is one or none."""
    if len(profiles) < 2:
        return ""
    rows = []
    for index, profile in enumerate(profiles):
        checked = " checked" if index == 0 else ""
        name = html.escape(profile.name)
        limits = f"{profile.cpu_limit:g} CPU, {_size(profile.mem_limit)} memory" + (
            f", {profile.gpus} GPU" if profile.gpus else ""
        )
        description = f" — {html.escape(profile.description)}" if profile.description else ""
        rows.append(
            f'<div class="form-check"><input class="form-check-input" type="radio" name="{FORM_FIELD}" '
            f'id="profile-{name}" value="{name}"{checked}>'
            f'<label class="form-check-label" for="profile-{name}"><strong>{name}</strong> '
            f"({limits}){description}</label></div>"
        )
    return "<p>Choose a server profile:</p>\n" + "\n".join(rows)


def _size(size: int) -> str:
    for unit, factor in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size} bytes"


def options_from_form(form_data: Mapping[str, list[str]]) -> dict[str, str]:
    return {FORM_FIELD: form_data[FORM_FIELD][0]} if form_data.get(FORM_FIELD) else {}
