"""A Docker image built on this host from a folder of the project, tagged by content.

The docker provider hashes the build context itself, but that hash is invisible to
the program, so a container wired to the image name would never roll. Here the
tag is a hash of the context files and the build args: any edit gives a new
reference, `pulumi preview` shows it, and the old image stays on the host.
"""

from __future__ import annotations

import fnmatch
import hashlib
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

TAG_LENGTH = 12
# Images are built for the host they run on: Docker's name for its architecture.
BUILD_PLATFORM = "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def _ignored_patterns(context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    if not ignore_file.exists():
        return []
    lines = (line.strip() for line in ignore_file.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(context: Path) -> list[Path]:
    """The files Docker would send as the build context (simple .dockerignore patterns)."""
    patterns = _ignored_patterns(context)

    def ignored(relative: str) -> bool:
        return any(fnmatch.fnmatch(relative, p) or relative.startswith(p.rstrip("/") + "/") for p in patterns)

    return sorted(path for path in context.rglob("*") if path.is_file() and not ignored(path.relative_to(context).as_posix()))


def content_tag(context: Path, build_args: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for path in context_files(context):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for key in sorted(build_args):
        digest.update(f"{key}={build_args[key]}\0".encode())
    return digest.hexdigest()[:TAG_LENGTH]


def read_ca_certificates(path: str) -> str:
    """PEM text of a certificate file, or of every *.crt in a directory ('' when unset)."""
    if not path:
        return ""
    source = Path(path)
    files = sorted(source.glob("*.crt")) if source.is_dir() else [source]
    return "".join(file.read_text().strip() + "\n" for file in files)


@dataclass(frozen=True)
class RegistryLogin:
    server: str  # host[:port]
    username: str
    password: pulumi.Input[str]


@dataclass(frozen=True)
class BuiltImageArgs:
    context_dir: str  # relative to the project root, e.g. "build.notebook"
    ref: str  # [<registry>/]<repository>:<content tag of the context and build args>
    build_args: dict[str, str]
    build_after: Sequence[pulumi.Resource] = ()  # e.g. the base image check
    push: bool = False  # to the registry the ref names (swarm mode: the nodes pull it from there)
    login: RegistryLogin | None = None


class BuiltImage(pulumi.ComponentResource):
    ref: str
    image: docker.Image

    def __init__(self, name: str, args: BuiltImageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:BuiltImage", name, None, opts)
        self.ref = args.ref
        self.image = docker.Image(
            name,
            image_name=args.ref,
            build=docker.DockerBuildArgs(
                context=args.context_dir,
                dockerfile=f"{args.context_dir}/Dockerfile",
                args=args.build_args,
                platform=BUILD_PLATFORM,
            ),
            skip_push=not args.push,
            registry=docker.RegistryArgs(server=args.login.server, username=args.login.username, password=args.login.password)
            if args.login
            else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.build_after)),
        )
        self.register_outputs({"ref": self.ref, "imageId": self.image.repo_digest})
