"""A deployment's backups: restic snapshots of the hub's data and every user's home.

    backup serve              the container's command: one backup a day at dailyAt (UTC)
    backup now                one backup now (after a running one finishes; kept keepDaily days)
    backup status             the last backup: time, result, snapshot (JSON)
    backup health             exit 1 when the last backup failed or is older than a day and two hours
    backup snapshots          this deployment's snapshots (JSON)
    backup restore --snapshot ID --hub .../hub-data --home VOLUME=.../_data ...   (admin.restore runs it)

Settings come from the file in $BACKUP_SETTINGS (the program writes it); the
repository's password from $RESTIC_PASSWORD. The hub's database is copied with
SQLite's online backup API while the hub runs (a consistent copy; the hub's writes
wait for it at most a moment), the cookie secret and crypt key beside it, and each home volume is
read where Docker keeps it (mounted read-only). One snapshot holds them all:
/stage/hub-data and /volumes/<home volume>/_data.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STAGE = Path("/stage/hub-data")
DATABASE = "jupyterhub.sqlite"
COOKIE_SECRET = "jupyterhub_cookie_secret"
CRYPT_KEY = "jupyterhub_crypt_key"  # auth.type oidc: what the users' tokens are encrypted with
ESCAPED_USER = re.compile(r"[a-z0-9][a-z0-9-]{0,191}")
STALE_AFTER_S = 26 * 3600
RESTIC_TIMEOUT_S = 6 * 3600
YIELDING = ("nice", "-n", "19", "ionice", "-c", "3")
RESTIC_NO_REPOSITORY = 10  # restic's exit codes (0.17 and later)
RESTIC_WRONG_PASSWORD = 12
SCHEDULED, MANUAL = "daily", "manual"  # snapshot tags


def settings() -> dict[str, Any]:
    with open(os.environ.get("BACKUP_SETTINGS", "/etc/jupyterhub-backup/settings.json")) as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


def log(line: str) -> None:
    print(f"backup: {line}", flush=True)


def restic(config: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """restic at the lowest CPU and I/O priority, on one core: spawns and the hub come first."""
    state = Path(config["stateDir"])
    command = [*YIELDING, "restic", "--repo", config["repository"], "--cache-dir", str(state / "cache"), *args]
    environment = {**os.environ, "GOMAXPROCS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=RESTIC_TIMEOUT_S, check=False, env=environment)


def checked(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode != 0:
        raise RuntimeError(f"restic {result.args[len(YIELDING) + 5]}: {result.stderr.strip()[-500:]}")
    return result.stdout


def home_volumes(config: dict[str, Any]) -> list[Path]:
    """Every volume whose name is a user's home under the template, with its data folder."""
    prefix, suffix = config["homeVolumeTemplate"].split("{username}")
    homes = []
    for volume in sorted(Path(config["volumesDir"]).iterdir()):
        user = volume.name.removeprefix(prefix).removesuffix(suffix)
        if volume.name == f"{prefix}{user}{suffix}" and ESCAPED_USER.fullmatch(user) and (volume / "_data").is_dir():
            homes.append(volume / "_data")
    return homes


def shared_volumes(config: dict[str, Any]) -> list[Path]:
    """The shared volumes (spawner.sharedVolumes) the engine has made so far."""
    folders = [Path(config["volumesDir"]) / volume / "_data" for volume in config["sharedVolumes"]]
    return [folder for folder in folders if folder.is_dir()]


def tls_data(config: dict[str, Any]) -> list[Path]:
    """The TLS terminator's ACME account and certificates (tls.mode acme), once it has made them."""
    folder = Path(config["volumesDir"]) / config["tlsDataVolume"] / "_data"
    return [folder] if config["tlsDataVolume"] and folder.is_dir() else []


def stage_hub_data(config: dict[str, Any]) -> None:
    """A consistent copy of the live database (SQLite's online backup), the cookie secret and the crypt key."""
    hub_data = Path(config["volumesDir"]) / config["hubDataVolume"] / "_data"
    shutil.rmtree(STAGE, ignore_errors=True)
    STAGE.mkdir(parents=True, mode=0o700)
    source = sqlite3.connect(f"file:{hub_data / DATABASE}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(STAGE / DATABASE)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    os.chmod(STAGE / DATABASE, 0o600)
    shutil.copy2(hub_data / COOKIE_SECRET, STAGE / COOKIE_SECRET)
    if (hub_data / CRYPT_KEY).exists():
        shutil.copy2(hub_data / CRYPT_KEY, STAGE / CRYPT_KEY)


def open_repository(config: dict[str, Any]) -> None:
    """Make the repository on first use; say plainly when it refuses the password."""
    probe = restic(config, "cat", "config")
    if probe.returncode == RESTIC_NO_REPOSITORY:
        checked(restic(config, "init"))
        log(f"initialised the repository {config['repository']}")
    elif probe.returncode == RESTIC_WRONG_PASSWORD:
        raise RuntimeError(
            f"the repository {config['repository']} refuses this password (backupPassword). "
            "Fix: pulumi config set --secret backupPassword <the password it was made with>, then pulumi up"
        )
    elif probe.returncode != 0:
        raise RuntimeError(f"restic cannot open the repository {config['repository']}: {probe.stderr.strip()[-300:]}")


def run_backup(config: dict[str, Any], scheduled: bool) -> dict[str, Any]:
    started = time.monotonic()
    open_repository(config)
    stage_hub_data(config)
    homes = home_volumes(config)
    tag = SCHEDULED if scheduled else MANUAL
    paths = [str(STAGE), *map(str, homes), *map(str, shared_volumes(config)), *map(str, tls_data(config))]
    output = checked(restic(config, "backup", "--json", "--host", config["deployment"], "--tag", tag, *paths))
    summary = [json.loads(line) for line in output.splitlines() if '"message_type":"summary"' in line.replace(" ", "")][-1]
    keep = config["keep"]
    # The daily ones are thinned by the policy; one taken by hand (before a change, say) is kept
    # for as many days as daily ones are, whatever else ran that day.
    checked(
        restic(
            config, "forget", "--host", config["deployment"], "--group-by", "host", "--tag", SCHEDULED,
            "--keep-daily", str(keep["daily"]), "--keep-weekly", str(keep["weekly"]), "--keep-monthly", str(keep["monthly"]),
        )
    )  # fmt: skip
    checked(
        restic(
            config, "forget", "--host", config["deployment"], "--group-by", "host", "--tag", MANUAL, "--prune",
            "--keep-within", f"{max(keep['daily'], 1)}d",
        )
    )  # fmt: skip
    return {
        "snapshot": summary["snapshot_id"][:8],
        "homes": len(homes),
        "bytesAdded": summary.get("data_added", 0),
        "seconds": round(time.monotonic() - started, 1),
    }


@contextmanager
def exclusive(config: dict[str, Any]) -> Iterator[None]:
    """One backup at a time: the schedule and `backup now` take turns."""
    Path(config["stateDir"]).mkdir(parents=True, exist_ok=True)
    with open(Path(config["stateDir"]) / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def backup_once(config: dict[str, Any], scheduled: bool) -> bool:
    status_file = Path(config["stateDir"]) / "status.json"
    with exclusive(config):
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        previous = json.loads(status_file.read_text()) if status_file.exists() else {}
        try:
            result = run_backup(config, scheduled)
            status = {"time": now, "result": "ok", **result, "lastSuccess": now}
            log(f"ok at {now}: snapshot {result['snapshot']}, {result['homes']} homes, {result['seconds']} s")
        except (RuntimeError, OSError, sqlite3.Error, subprocess.TimeoutExpired) as error:
            status = {"time": now, "result": "failed", "error": str(error)[-500:], "lastSuccess": previous.get("lastSuccess")}
            log(f"FAILED at {now}: {status['error']}")
        status_file.write_text(json.dumps(status) + "\n")
        return status["result"] == "ok"


def seconds_until(daily_at: str, now: datetime.datetime) -> float:
    hour, minute = (int(part) for part in daily_at.split(":"))
    next_run = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if next_run <= now:
        next_run += datetime.timedelta(days=1)
    return (next_run - now).total_seconds()


def serve(config: dict[str, Any]) -> None:
    started = Path(config["stateDir"]) / "started"
    Path(config["stateDir"]).mkdir(parents=True, exist_ok=True)
    if not started.exists():
        started.write_text(datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds") + "\n")
    log(f"next backup daily at {config['dailyAt']} UTC into {config['repository']}")
    while True:
        wait = seconds_until(config["dailyAt"], datetime.datetime.now(datetime.UTC))
        time.sleep(min(wait, 300))  # re-read the clock often: a suspended host wakes up late
        if wait <= 300:
            backup_once(config, scheduled=True)


def health(config: dict[str, Any]) -> int:
    state = Path(config["stateDir"])
    now = datetime.datetime.now(datetime.UTC)
    if (state / "status.json").exists():
        status = json.loads((state / "status.json").read_text())
        last = status.get("lastSuccess")
        if status["result"] != "ok":
            print(f"the last backup failed: {status.get('error')}")
            return 1
    else:
        last = (state / "started").read_text().strip() if (state / "started").exists() else now.isoformat()
    age = (now - datetime.datetime.fromisoformat(last)).total_seconds() if last else float("inf")
    if age > STALE_AFTER_S:
        print(f"no successful backup for {age / 3600:.1f} hours")
        return 1
    return 0


def restore(config: dict[str, Any], snapshot: str, hub: str | None, homes: list[str]) -> None:
    """Make each target folder (a volume's mount point) hold exactly what the snapshot has for it.

    The snapshot's parent folder is restored into the mount point's parent, so the
    folder itself gets its owner and mode back too (a home belongs to the notebook user)."""
    targets = ([(STAGE, Path(hub))] if hub else []) + [
        (Path(config["volumesDir"]) / volume / "_data", Path(folder)) for volume, folder in (h.split("=", 1) for h in homes)
    ]
    for source, target in targets:
        if target.name != source.name:
            raise SystemExit(f"restore: {target} must end in /{source.name}, as {source} does")
        for entry in target.iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        checked(restic(config, "restore", f"{snapshot}:{source.parent}", "--target", str(target.parent)))
        log(f"restored {source} from snapshot {snapshot}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="backup", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "now", "status", "health", "snapshots"):
        commands.add_parser(name)
    restoring = commands.add_parser("restore")
    restoring.add_argument("--snapshot", required=True)
    restoring.add_argument("--hub", help="folder to restore the hub's data into")
    restoring.add_argument("--home", action="append", default=[], help="VOLUME=FOLDER: a home to restore into FOLDER")
    args = parser.parse_args(argv)
    config = settings()
    if args.command == "serve":
        serve(config)
    elif args.command == "now":
        return 0 if backup_once(config, scheduled=False) else 1
    elif args.command == "status":
        status_file = Path(config["stateDir"]) / "status.json"
        print(status_file.read_text().strip() if status_file.exists() else '{"result": "none yet"}')
    elif args.command == "health":
        return health(config)
    elif args.command == "snapshots":
        open_repository(config)
        print(checked(restic(config, "snapshots", "--json", "--host", config["deployment"])).strip())
    else:
        open_repository(config)
        restore(config, args.snapshot, args.hub, args.home)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except RuntimeError as error:
        sys.exit(f"backup: {error}")
