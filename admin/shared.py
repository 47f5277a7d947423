"""Fill a read-only shared volume (course material) from a host folder or a git repository.

    venv/bin/python -m admin.shared --stack prod fill course /srv/course-2026
    venv/bin/python -m admin.shared --stack prod fill course https://git.example.org/teaching/course.git --ref main

The volume (`spawner.sharedVolumes[].name`, mode `ro`) then holds exactly the folder's
files, or the repository's at its newest commit of --ref (without `.git`): what was
there before is removed first. Files belong to root and every user may read them
(executables stay executable); symbolic links are copied as links, other special
files are left out. Running servers see the new files at once. A team folder
(mode `rw`) is its members' to fill, from their servers.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import stat
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import docker
import docker.errors

from admin.stack import command_line, open_stack
from components.config import StackConfig
from components.config.spawner import SharedVolume

TARGET = "/target"  # where the helper container sees the volume
GIT_SOURCE = re.compile(r"(https?|ssh|git|file)://\S+|[\w.-]+@[\w.-]+:\S+")
CLONE_TIMEOUT_S = 600
EMPTYING_TIMEOUT_S = 600
FILE_MODE, EXECUTABLE_MODE, FOLDER_MODE = 0o644, 0o755, 0o755


class FillError(Exception):
    """What stops a fill, with the fix."""


def shared_volume(config: StackConfig, name: str) -> SharedVolume:
    """The stack's read-only shared volume of this name."""
    volumes = {volume.name: volume for volume in config.spawner.shared_volumes}
    if name not in volumes:
        raise FillError(
            f"no shared volume '{name}' in spawner.sharedVolumes (the stack has: {', '.join(volumes) or 'none'}). "
            f"Fix: pulumi config set --path 'spawner.sharedVolumes[{len(volumes)}].name' {name}, then pulumi up"
        )
    if volumes[name].mode != "ro":
        raise FillError(f"the shared volume '{name}' is a team folder (mode rw): its members fill it from their servers")
    return volumes[name]


def packed_folder(folder: Path) -> tuple[bytes, int, int]:
    """A tar of the folder's contents (not the folder itself), owned by root and readable by everyone;
    with how many files and bytes it holds."""
    data = io.BytesIO()
    files = size = 0
    with tarfile.open(fileobj=data, mode="w") as archive:
        for root, folders, names in os.walk(folder):
            folders[:] = sorted(name for name in folders if not (Path(root) == folder and name == ".git"))
            for name in sorted(folders) + sorted(names):
                path = Path(root) / name
                entry = archive.gettarinfo(str(path), arcname=str(path.relative_to(folder)))
                if not (entry.isfile() or entry.isdir() or entry.issym()):
                    continue  # a device, socket or pipe
                entry.uid = entry.gid = 0
                entry.uname = entry.gname = "root"
                if entry.isdir():
                    entry.mode = FOLDER_MODE
                elif entry.isfile():
                    entry.mode = EXECUTABLE_MODE if entry.mode & stat.S_IXUSR else FILE_MODE
                    files, size = files + 1, size + entry.size
                if entry.isfile():
                    with path.open("rb") as content:
                        archive.addfile(entry, content)
                else:
                    archive.addfile(entry)
    return data.getvalue(), files, size


def cloned(url: str, ref: str, into: Path) -> Path:
    """The repository's newest commit of ref (its default branch without one), checked out into a folder."""
    command = ["git", "clone", "--quiet", "--depth", "1", *(["--branch", ref] if ref else []), "--", url, str(into / "repo")]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=CLONE_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise FillError("git is not installed on this host. Fix: apt-get install git, or fill from a folder") from None
    if result.returncode != 0:
        raise FillError(f"git clone {url} failed: {result.stderr.strip()[-400:]}")
    return into / "repo"


def fill(client: docker.DockerClient, config: StackConfig, name: str, source: str, ref: str) -> str:
    """Replace the volume's contents with the source's; the report line."""
    shared_volume(config, name)
    volume = config.names.shared_volume(name)
    try:
        client.volumes.get(volume)
    except docker.errors.NotFound:
        raise FillError(f"the volume {volume} does not exist yet. Fix: pulumi up (it makes the shared volumes)") from None
    with tempfile.TemporaryDirectory(prefix="admin-shared-") as scratch:
        if GIT_SOURCE.fullmatch(source):
            folder = cloned(source, ref, Path(scratch))
        elif ref:
            raise FillError("--ref is for a git repository; the source is a folder")
        elif Path(source).is_dir():
            folder = Path(source)
        else:
            raise FillError(f"{source} is neither a folder on this host nor a git URL (https://, ssh://, git@host:path)")
        archive, files, size = packed_folder(folder)
    # The build's base image has a shell; it is on the host (each deploy checks it).
    helper = client.containers.create(
        config.build.base_image,
        ["sh", "-c", f"find {TARGET} -mindepth 1 -delete"],
        volumes={volume: {"bind": TARGET, "mode": "rw"}},
        user="0",
        network_disabled=True,
        labels=config.names.labels,
    )
    try:
        helper.start()
        emptied = helper.wait(timeout=EMPTYING_TIMEOUT_S)
        if emptied["StatusCode"] != 0:
            raise FillError(f"emptying {volume} failed: {helper.logs().decode(errors='replace').strip()[-400:]}")
        helper.put_archive(TARGET, archive)
    finally:
        helper.remove(force=True)
    return f"{name}: {files} files, {size / 1024**2:.1f} MB from {source} ({volume}; what was there before is gone)"


def parser() -> argparse.ArgumentParser:
    parser = command_line("admin.shared", __doc__ or "")
    commands = parser.add_subparsers(dest="command", required=True)
    filling = commands.add_parser("fill", help="replace a read-only shared volume's files with a folder's or a repository's")
    filling.add_argument("name", help="spawner.sharedVolumes[].name")
    filling.add_argument("source", help="a folder on this host, or a git URL")
    filling.add_argument("--ref", default="", help="the branch or tag to take (git only; default: the default branch)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config, client = open_stack(args, "shared", timeout_s=EMPTYING_TIMEOUT_S)
    try:
        print(fill(client, config, args.name, args.source, args.ref))
    except FillError as error:
        raise SystemExit(f"shared: {error}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
