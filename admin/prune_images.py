"""Free disk space: remove this deployment's images that nothing needs any more.

    venv/bin/python -m admin.prune_images --stack prod           # dry run: what would go, space freed
    venv/bin/python -m admin.prune_images --stack prod --apply

Every change to a notebook, hub or proxy build leaves a new content-tagged image
(~470 MB for the notebook). Kept: every image a container uses (running or stopped:
a user's server keeps its image until it is restarted), the images the hub offers
(its settings: the notebook image, the images of `spawner.profiles`), `notebookRollbackImage`,
and the `build.keepBuilds` newest builds of each image. Candidates are only images
built for this deployment (label org.jupyterhub-docker.built-for=<name>), tagged or
left untagged by a rebuild: other deployments' images and foreign images are never
touched, and an image a container uses is never removed (the engine refuses too).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass

import docker
import docker.errors
from docker.models.images import Image

from admin.archives import read_file
from admin.stack import command_line, open_stack
from components.config import StackConfig
from components.names import BUILT_FOR_LABEL, HUB_SETTINGS_PATH, IMAGE_ROLE_LABEL, IMAGE_ROLES, DeploymentNames
from components.user_servers import profile_images

MB = 1024**2


@dataclass(frozen=True)
class Plan:
    remove: list[Image]
    keep: dict[str, str]  # image id -> why

    def freed_bytes(self, sizes: dict[str, tuple[int, int]]) -> tuple[int, int]:
        """At least (the layers only these images have), at most (their whole size)."""
        unique = sum(sizes.get(image.id, (0, 0))[0] - sizes.get(image.id, (0, 0))[1] for image in self.remove)
        return unique, sum(sizes.get(image.id, (0, 0))[0] for image in self.remove)


def offered_by_the_hub(client: docker.DockerClient, hub_container: str) -> set[str]:
    """The images the running hub's spawner offers, from the settings the program uploaded to it."""
    try:
        uploaded = read_file(client.containers.get(hub_container), HUB_SETTINGS_PATH)
    except docker.errors.NotFound:
        return set()
    settings = json.loads(uploaded) if uploaded else {}
    refs: set[str] = set()
    for traits in settings.get("spawner", {}).get("traitlets", {}).values():
        refs.update(ref for ref in [traits.get("image")] if ref)
        refs.update(profile["image"] for profile in traits.get("profiles") or [])
    return refs


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return str(client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return None


def plan(client: docker.DockerClient, config: StackConfig) -> Plan:
    names = config.names
    ours = client.images.list(filters={"label": f"{BUILT_FOR_LABEL}={names.deployment}"})
    keep: dict[str, str] = {}
    for container in client.containers.list(all=True):
        keep.setdefault(container.attrs["Image"], f"used by container {container.name}")
    configured = {
        config.notebook_rollback_image: "notebookRollbackImage",
        **{r: "spawner.profiles" for r in profile_images(config).values()},
    }
    for ref in offered_by_the_hub(client, names.hub_container):
        configured.setdefault(ref, "offered by the hub")
    for ref, why in configured.items():
        if ref and (image_id := _image_id(client, ref)) is not None:
            keep.setdefault(image_id, why)
    by_role: dict[str, list[Image]] = defaultdict(list)
    for image in ours:
        if image.tags:
            by_role[image.labels.get(IMAGE_ROLE_LABEL, "")].append(image)
    for role, images in by_role.items():
        # BuildKit's `Created` comes from the build cache (rebuilds share it); the tag time is the build's.
        newest = sorted(images, key=lambda image: image.attrs["Metadata"]["LastTagTime"], reverse=True)
        for image in newest[: config.build.keep_builds]:
            keep.setdefault(image.id, f"one of the {config.build.keep_builds} newest {role} builds")
    return Plan([image for image in ours if image.id not in keep], {i.id: keep[i.id] for i in ours if i.id in keep})


def _describe(image: Image) -> str:
    return ", ".join(image.tags) or f"untagged {image.id[7:19]} ({image.labels.get(IMAGE_ROLE_LABEL, '?')})"


def plan_lines(result: Plan, kept_images: dict[str, Image], sizes: dict[str, tuple[int, int]], apply: bool) -> list[str]:
    """What is kept and why, what goes (or would go) and its size; for a dry run, the space it would free."""
    lines = [
        f"keep    {_describe(kept_images[image_id])}: {why}"
        for image_id, why in sorted(result.keep.items(), key=lambda item: item[1])
    ]
    going = "remove" if apply else "would remove"
    lines += [f"{going}  {_describe(image)} ({sizes.get(image.id, (0, 0))[0] / MB:.0f} MB)" for image in result.remove]
    if not apply:
        least, most = result.freed_bytes(sizes)
        lines.append(
            f"would free at least {least / MB:.0f} MB (the layers only these images have), up to {most / MB:.0f} MB "
            "(layers they share with kept images stay). Run with --apply"
        )
    return lines


def removal_lines(refused: list[tuple[Image, str]], removed: list[Image], sizes: dict[str, tuple[int, int]]) -> list[str]:
    """The images the engine would not remove, and the space the removed ones freed."""
    lines = [f"kept    {_describe(image)}: the engine refused ({refusal})" for image, refusal in refused]
    return [*lines, f"freed at least {Plan(removed, {}).freed_bytes(sizes)[0] / MB:.0f} MB (the removed images' own layers)"]


def remove(client: docker.DockerClient, image: Image, names: DeploymentNames) -> str | None:
    """Remove the deployment's tags of the image (the image goes with the last tag; one an
    operator tagged under another name stays), or the untagged image; the engine's refusal, if any."""
    repositories = {names.image(role, "").removesuffix(":") for role in IMAGE_ROLES}
    try:
        for tag in image.tags:
            if tag.rsplit(":", 1)[0] in repositories:
                client.images.remove(tag)
        if not image.tags:
            client.images.remove(image.id)
    except docker.errors.APIError as error:
        return str(error.explanation)
    return None


def parser() -> argparse.ArgumentParser:
    parser = command_line("admin.prune_images", __doc__ or "")
    parser.add_argument("--apply", action="store_true", help="remove them (without it: only say what would go)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config, client = open_stack(args, "prune_images", timeout_s=300)
    result = plan(client, config)
    sizes: dict[str, tuple[int, int]] = {
        entry["Id"]: (entry["Size"], max(entry.get("SharedSize", 0), 0)) for entry in client.df()["Images"]
    }
    kept_images = {image_id: client.images.get(image_id) for image_id in result.keep}
    for line in plan_lines(result, kept_images, sizes, args.apply):
        print(line)
    if not args.apply:
        return 0
    refused = [(image, refusal) for image in result.remove if (refusal := remove(client, image, config.names)) is not None]
    left = {image.id for image in client.images.list(all=True)}
    for line in removal_lines(refused, [image for image in result.remove if image.id not in left], sizes):
        print(line)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
