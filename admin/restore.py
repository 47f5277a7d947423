"""Restore a deployment from its backups: everything, or some users' homes.

    venv/bin/python -m admin.restore --stack prod --list
    venv/bin/python -m admin.restore --stack prod --snapshot latest                  # hub data + every home
    venv/bin/python -m admin.restore --stack prod --snapshot 4f2a9c1e --user ada     # ada's home only

The deployment must be up (`pulumi up`: on a new host that makes an empty one with
`backup.enabled` and the same repository and password). A full restore stops the
hub, puts back its database and cookie secret (users, passwords, tokens and login
sessions stay valid) and every home in the snapshot, and starts the hub again. A
home restore leaves the hub and everyone else running. Each restored folder holds
exactly what the snapshot has: files made since are removed. A user's server must
be stopped while their home is restored (--stop-servers stops them).

It runs `backup restore` in a container of the backup image with the backup
container's repository settings, the target volumes mounted, and the capabilities
restoring owners and modes needs (CHOWN, DAC_OVERRIDE, FOWNER).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import Mount

from admin.archives import packed, read_file
from admin.hub_database import escaped_user
from admin.stack import command_line, open_stack, printable
from components.names import BACKUP_SETTINGS_PATH, BACKUP_VOLUMES_DIR, LABEL, USER_SERVER_PREFIX, DeploymentNames

RESTORE_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER"]
HUB_TARGET = "/restore/hub/hub-data"  # ends as the snapshot's folder does (build.backup/backup.py)
HOMES_TARGET = "/restore/homes"  # each home at <this>/<volume>/_data
STOP_TIMEOUT_S = 30
RESTORE_TIMEOUT_S = 6 * 3600


class RestoreError(Exception):
    """The restore cannot go ahead; the message says why and what to do."""


def backup_container(client: docker.DockerClient, names: DeploymentNames) -> Container:
    try:
        return client.containers.get(names.backup_container)
    except docker.errors.NotFound:
        raise RestoreError(
            f"no container {names.backup_container}: backups are off or the deployment is not up. Fix: pulumi config set "
            "--path backup.enabled true (with the same backup.repository and backupPassword as before), then pulumi up"
        ) from None


def run_in_backup_image(
    client: docker.DockerClient, backup: Container, command: list[str], volumes: dict[str, str] | None = None
) -> str:
    """`backup <command>` in a one-off container with the backup container's image, settings and repository."""
    mounts = [
        Mount(m["Destination"], m["Source"] if m["Type"] == "bind" else m["Name"], type=m["Type"], read_only=not m["RW"])
        for m in backup.attrs["Mounts"]
    ]
    mounts += [Mount(target, volume, type="volume") for volume, target in (volumes or {}).items()]
    settings = read_file(backup, BACKUP_SETTINGS_PATH) or b""  # the program uploaded them to the backup container
    one_off = client.containers.create(
        backup.image.id,
        ["backup", *command],
        environment=backup.attrs["Config"]["Env"],
        mounts=mounts,
        cap_drop=["ALL"],
        cap_add=RESTORE_CAPABILITIES if volumes else ["DAC_READ_SEARCH"],
        security_opt=["no-new-privileges"],
        labels=dict(backup.labels),
    )
    try:
        one_off.put_archive("/", packed({BACKUP_SETTINGS_PATH.lstrip("/"): settings}, mode=0o644))  # its folder may not exist
        one_off.start()
        exit_code = one_off.wait(timeout=RESTORE_TIMEOUT_S)["StatusCode"]
        output = one_off.logs(stdout=True, stderr=False).decode()
        if exit_code != 0:
            errors = one_off.logs(stdout=False, stderr=True).decode(errors="replace").strip()
            raise RestoreError(f"backup {command[0]} failed: {errors[-800:] or output[-800:]}")
        return output
    finally:
        one_off.remove(force=True)


def snapshots(client: docker.DockerClient, backup: Container) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(run_in_backup_image(client, backup, ["snapshots"]).strip().splitlines()[-1])
    return listed


def homes_in(snapshot: dict[str, Any]) -> list[str]:
    """The home volumes a snapshot holds (paths /volumes/<volume>/_data)."""
    prefix = f"{BACKUP_VOLUMES_DIR}/"
    return sorted(p.removeprefix(prefix).removesuffix("/_data") for p in snapshot["paths"] if p.startswith(prefix))


def chosen(listed: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    if not listed:
        raise RestoreError("the repository has no snapshot of this deployment yet (docker exec <name>-backup backup now)")
    if wanted == "latest":
        return max(listed, key=lambda snapshot: str(snapshot["time"]))
    matches = [s for s in listed if str(s["id"]).startswith(wanted) or s.get("short_id") == wanted]
    if len(matches) != 1:
        raise RestoreError(f"no single snapshot {wanted!r}. Fix: pick an ID from --list")
    return matches[0]


def running_servers(client: docker.DockerClient, names: DeploymentNames, volumes: set[str]) -> list[Container]:
    """This deployment's running user servers that mount one of the volumes."""
    return [
        c
        for c in client.containers.list(filters={"label": f"{LABEL}={names.deployment}"})
        if c.name.startswith(USER_SERVER_PREFIX) and any(m.get("Name") in volumes for m in c.attrs["Mounts"])
    ]


def homes_to_restore(names: DeploymentNames, snapshot: dict[str, Any], users: list[str]) -> list[str]:
    """The users' home volumes, each of which the snapshot must hold; without users, every home it holds."""
    in_snapshot = homes_in(snapshot)
    if not users:
        return in_snapshot
    homes = [names.home_volume(escaped_user(user)) for user in users]
    if missing := [user for user, home in zip(users, homes, strict=True) if home not in in_snapshot]:
        raise RestoreError(f"snapshot {snapshot['short_id']} has no home of {', '.join(missing)}")
    return homes


def check_servers_stopped(running: list[str], stop_servers: bool) -> None:
    """Refused while servers using the homes run, unless told to stop them."""
    if running and not stop_servers:
        raise RestoreError(
            f"servers using these homes are running: {', '.join(running)}. "
            "Fix: stop them (the hub's admin page), or run this again with --stop-servers"
        )


def restore_report(
    names: DeploymentNames, snapshot: dict[str, Any], stopped_servers: list[str], homes: int, with_hub_data: bool
) -> list[str]:
    """What a restore that went through did, in order."""
    hub = [f"stopped {names.hub_container}", f"started {names.hub_container}"] if with_hub_data else []
    what = f"{homes} home{'' if homes == 1 else 's'}" + (" and the hub's data" if with_hub_data else "")
    restored = f"restored {what} from snapshot {snapshot['short_id']} of {snapshot['time']}"
    return [*(f"stopped {server}" for server in stopped_servers), *hub, restored]


def restore(client: docker.DockerClient, names: DeploymentNames, wanted: str, users: list[str], stop_servers: bool) -> list[str]:
    backup = backup_container(client, names)
    snapshot = chosen(snapshots(client, backup), wanted)
    homes = homes_to_restore(names, snapshot, users)
    servers = running_servers(client, names, set(homes))
    check_servers_stopped([server.name for server in servers], stop_servers)
    for server in servers:
        server.stop(timeout=STOP_TIMEOUT_S)
    existing = {volume.name for volume in client.volumes.list()}
    for home in homes:
        if home not in existing:
            client.volumes.create(home, labels=names.labels)
    command = ["restore", "--snapshot", str(snapshot["id"])]
    volumes = {home: f"{HOMES_TARGET}/{home}/_data" for home in homes}
    command += [arg for home, target in volumes.items() for arg in ("--home", f"{home}={target}")]
    hub = None
    if not users:
        hub = client.containers.get(names.hub_container)
        hub.stop(timeout=STOP_TIMEOUT_S)
        command += ["--hub", HUB_TARGET]
        volumes[names.hub_data_volume] = HUB_TARGET
    try:
        run_in_backup_image(client, backup, command, volumes)
    finally:
        if hub is not None:
            hub.start()
    return restore_report(names, snapshot, [server.name for server in servers], len(homes), with_hub_data=not users)


def snapshot_list(listed: list[dict[str, Any]]) -> list[str]:
    """--list: each snapshot's ID, time (to the second) and number of homes."""
    return [printable(f"{snapshot['short_id']}  {snapshot['time'][:19]}  {len(homes_in(snapshot))} homes") for snapshot in listed]


def printed(line: str) -> str:
    """A report or error line as the command prints it."""
    return f"restore: {printable(line)}"


def parser() -> argparse.ArgumentParser:
    parser = command_line("admin.restore", __doc__ or "")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--list", action="store_true", help="list the snapshots")
    what.add_argument("--snapshot", help="an ID from --list, or latest")
    parser.add_argument("--user", action="append", default=[], help="restore only this user's home (repeatable)")
    parser.add_argument("--stop-servers", action="store_true", help="stop the servers of the users being restored")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config, client = open_stack(args, "restore", timeout_s=3600)
    try:
        if args.list:
            for line in snapshot_list(snapshots(client, backup_container(client, config.names))):
                print(line)
            return 0
        report = restore(client, config.names, args.snapshot, args.user, args.stop_servers)
    except RestoreError as error:
        print(printed(str(error)), file=sys.stderr)
        return 2
    for line in report:
        print(printed(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
