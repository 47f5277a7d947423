"""Adopt an existing (docker-compose) JupyterHub's users: its database and cookie secret.

    venv/bin/python -m admin.adopt --stack prod --from-volume jupyterhub-data
    venv/bin/python -m admin.adopt --stack prod --from-dir /srv/old-hub/data

Run it before the deployment's first `pulumi up`. It copies the old hub's
`jupyterhub.sqlite` and `jupyterhub_cookie_secret` into this deployment's hub data
volume (`<name>-hub-data`), after checking them (see admin/hub_database.py), so
users keep their passwords (NativeAuthenticator's table is in that database), API
tokens and login cookies. Users' homes are not copied: `spawner.homeVolumeTemplate`
points the spawner at the old volumes.

The old deployment is only read: its volume is mounted read-only, a directory is
only read. The command stops while the old hub or its user servers run (or stops
them with --stop-old), and refuses a data volume that already holds a database
unless given --force.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from admin.archives import packed, read_file
from admin.hub_database import AdoptedDatabase, AdoptionError, adopt_database, check_cookie_secret, escaped_user
from admin.stack import command_line, open_stack, printable
from components.names import HUB_DATA_DIR, LABEL, USER_SERVER_PREFIX, DeploymentNames

DATABASE = "jupyterhub.sqlite"  # the names this project's hub uses (hub_config/jupyterhub_config.py)
COOKIE_SECRET = "jupyterhub_cookie_secret"
SQLITE_SIDE_FILES = ("-wal", "-shm")  # a hub that was killed may leave its write-ahead log beside the database
HELPER_ROLE = "adopt-helper"
SOURCE_MOUNT = "/old"
STOP_TIMEOUT_S = 30


@dataclass(frozen=True)
class Source:
    volume: str = ""  # a named volume, or
    directory: Path | None = None  # a directory on this machine
    database: str = DATABASE
    cookie_secret: str = COOKIE_SECRET

    def describe(self) -> str:
        return f"volume {self.volume}" if self.volume else f"directory {self.directory}"

    def is_mounted_by(self, container: Container) -> bool:
        for mount in container.attrs.get("Mounts") or []:
            if self.volume and mount.get("Type") == "volume" and mount.get("Name") == self.volume:
                return True
            if (
                self.directory
                and mount.get("Type") == "bind"
                and Path(mount.get("Source", ""))
                in (
                    self.directory,
                    *self.directory.parents,
                )
            ):
                return True
        return False


def old_deployment_running(client: docker.DockerClient, source: Source, names: DeploymentNames) -> list[str]:
    """Running containers of the old deployment: its hub (it mounts the source), its user servers."""
    found: list[str] = []
    for container in client.containers.list():
        ours = (container.labels or {}).get(LABEL) == names.deployment
        mounts_a_home = any(names.is_home_volume(m.get("Name", "")) for m in container.attrs.get("Mounts") or [])
        if source.is_mounted_by(container):
            found.insert(0, f"{container.name} (mounts the old hub's data: the old hub)")  # stopped first
        elif not ours and (container.name.startswith(USER_SERVER_PREFIX) or mounts_a_home):
            found.append(f"{container.name} (a user server of the old deployment)")
    return found


@contextmanager
def helper_image(client: docker.DockerClient, names: DeploymentNames) -> Iterator[str]:
    """An empty image to create (never start) containers from, for copying files in and out of volumes."""
    ref = names.image(HELPER_ROLE, "empty")
    client.api.import_image_from_data(
        packed({}), repository=ref.split(":")[0], tag="empty", changes=[f"LABEL {LABEL}={names.deployment}"]
    )
    try:
        yield ref
    finally:
        client.images.remove(ref, force=True)


@contextmanager
def volume_at(client: docker.DockerClient, image: str, volume: str, path: str, read_only: bool) -> Iterator[Container]:
    """A created, never started, container of the helper image with the volume at path."""
    container = client.containers.create(
        image,
        command=["none"],
        volumes={volume: {"bind": path, "mode": "ro" if read_only else "rw"}},
        network_disabled=True,
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def read_old_files(client: docker.DockerClient, image: str, source: Source, into: Path) -> None:
    """Copy the old database (and its side files) and cookie secret into a scratch directory."""
    wanted = [source.database, *(source.database + side for side in SQLITE_SIDE_FILES), source.cookie_secret]
    if source.directory is not None:
        for name in wanted:
            if (source.directory / name).is_file():
                shutil.copyfile(source.directory / name, into / name)
    else:
        with volume_at(client, image, source.volume, SOURCE_MOUNT, read_only=True) as reader:
            for name in wanted:
                content = read_file(reader, f"{SOURCE_MOUNT}/{name}")
                if content is not None:
                    (into / name).write_bytes(content)
    for name, option in ((source.database, "--db"), (source.cookie_secret, "--cookie-secret")):
        if not (into / name).is_file():
            raise AdoptionError(f"the old hub's {source.describe()} has no file {name}. Fix: name it with {option}")


def write_hub_data(client: docker.DockerClient, image: str, names: DeploymentNames, files: dict[str, bytes], force: bool) -> None:
    """Put the files into the hub data volume, labelled as the program labels it (a first `pulumi up` keeps it)."""
    volume = names.hub_data_volume
    try:
        existing = client.volumes.get(volume)
    except docker.errors.NotFound:
        existing = None
    if existing is not None:
        with volume_at(client, image, volume, HUB_DATA_DIR, read_only=True) as reader:
            holds_database = read_file(reader, f"{HUB_DATA_DIR}/{DATABASE}") is not None
        if holds_database and not force:
            raise AdoptionError(
                f"{volume} already holds a hub database. Fix: --force replaces it (the users in it are lost; back it up first)"
            )
        try:
            existing.remove()  # a fresh volume: no write-ahead log of the replaced database stays behind
        except docker.errors.APIError:
            raise AdoptionError(
                f"{volume} is used by a container. Fix: docker rm {names.hub_container}, then run this again"
            ) from None
    client.volumes.create(volume, labels=names.labels)
    with volume_at(client, image, volume, HUB_DATA_DIR, read_only=False) as writer:
        writer.put_archive(HUB_DATA_DIR, packed(files))


def home_volumes_found(client: docker.DockerClient, names: DeploymentNames, users: tuple[str, ...], without_homes: bool) -> str:
    """How many users' home volumes the spawner will find; none at all stops the adoption (unless told)."""
    existing = {volume.name for volume in client.volumes.list()}
    found = [user for user in users if names.home_volume(escaped_user(user)) in existing]
    if users and not found and not without_homes:
        raise AdoptionError(
            f"no user has a home volume named {names.home_volume_template}: users would start with empty homes. "
            "Fix: pulumi config set --path spawner.homeVolumeTemplate '<the old scheme, e.g. jupyterhub-user-{username}>' "
            "(docker volume ls shows the old names), or --without-homes if the old deployment kept no homes"
        )
    return f"homes: {len(found)} of {len(users)} users have a volume named {names.home_volume_template}"


def adopt(
    client: docker.DockerClient,
    names: DeploymentNames,
    auth_type: str,
    source: Source,
    report: Callable[[str], None],
    *,
    stop_old: bool,
    force: bool,
    without_homes: bool = False,
) -> None:
    """Adopt the old deployment's data, reporting each step."""
    try:
        hub_running = client.containers.get(names.hub_container).status == "running"
    except docker.errors.NotFound:
        hub_running = False
    if hub_running:
        raise AdoptionError(
            f"{names.hub_container} is running: adoption comes before the first pulumi up. Fix: pulumi destroy first"
        )
    running = old_deployment_running(client, source, names)
    if running and not stop_old:
        raise AdoptionError(
            "the old deployment is running: "
            + "; ".join(running)
            + ". Fix: stop it (docker compose stop, in its project directory), or run this again with --stop-old"
        )
    for line in running:
        name = line.split(" ")[0]
        client.containers.get(name).stop(timeout=STOP_TIMEOUT_S)
        report(f"stopped {line}")
    with helper_image(client, names) as image, tempfile.TemporaryDirectory(prefix="adopt-") as scratch:
        old = Path(scratch, "old")
        old.mkdir()
        read_old_files(client, image, source, old)
        for side in SQLITE_SIDE_FILES:  # SQLite finds a write-ahead log by the database's name
            if (old / (source.database + side)).is_file():
                (old / (source.database + side)).rename(old / (DATABASE + side))
        if source.database != DATABASE:
            (old / source.database).rename(old / DATABASE)
        cookie_secret = check_cookie_secret((old / source.cookie_secret).read_text(errors="replace"), source.cookie_secret)
        new_database = Path(scratch, DATABASE)
        adopted = adopt_database(old / DATABASE, new_database, auth_type)
        homes = home_volumes_found(client, names, adopted.users, without_homes)
        write_hub_data(client, image, names, {DATABASE: new_database.read_bytes(), COOKIE_SECRET: cookie_secret.encode()}, force)
    for line in summary(adopted, names):
        report(line)
    report(homes)


def summary(adopted: AdoptedDatabase, names: DeploymentNames) -> list[str]:
    lines = [
        f"adopted into {names.hub_data_volume}: {len(adopted.users)} hub users ({adopted.native_users} signed up "
        f"with NativeAuthenticator passwords), {adopted.api_tokens} API tokens, the cookie secret (logins stay valid)",
        f"database schema {adopted.revision}"
        + (": the hub upgrades it on its first start" if adopted.upgraded_on_start else ": current"),
    ]
    if adopted.cleared_servers:
        lines.append(f"cleared servers the old hub recorded as running: {', '.join(adopted.cleared_servers)}")
    return lines


def say(line: str) -> None:
    print(f"adopt: {printable(line)}", flush=True)


def parser() -> argparse.ArgumentParser:
    parser = command_line("admin.adopt", __doc__ or "")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--from-volume", help="the old hub's data volume (deploy-docker: jupyterhub-data)")
    where.add_argument("--from-dir", type=Path, help="the old hub's data directory on this machine")
    parser.add_argument("--db", default=DATABASE, help=f"the database's file name there (default {DATABASE})")
    parser.add_argument("--cookie-secret", default=COOKIE_SECRET, help=f"the cookie secret's file name (default {COOKIE_SECRET})")
    parser.add_argument("--stop-old", action="store_true", help="stop the old hub and user servers if they run")
    parser.add_argument("--force", action="store_true", help="replace a database already in the hub data volume")
    parser.add_argument("--without-homes", action="store_true", help="adopt even though no user's home volume is found")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config, client = open_stack(args, "adopt", timeout_s=120)
    source = Source(args.from_volume or "", args.from_dir.resolve() if args.from_dir else None, args.db, args.cookie_secret)
    try:
        if source.volume and source.volume not in {volume.name for volume in client.volumes.list()}:
            raise AdoptionError(
                f"no volume {source.volume} on {client.api.base_url}. Fix: docker volume ls shows the old hub's volumes"
            )
        if source.directory is not None and not source.directory.is_dir():
            raise AdoptionError(f"{source.directory} is not a directory")
        adopt(
            client,
            config.names,
            config.auth.type,
            source,
            say,
            stop_old=args.stop_old,
            force=args.force,
            without_homes=args.without_homes,
        )
    except AdoptionError as error:
        print(f"adopt: {printable(str(error))}", file=sys.stderr)
        return 2
    say(f"done. Next: pulumi up --stack {args.stack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
