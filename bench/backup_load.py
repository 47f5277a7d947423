"""Spawns and hub reloads with and without a backup running: `python -m bench.backup_load`.

Deploys the dev stack as `jhbench` with `backup.enabled` (a restic repository in a
scratch folder), gives each of a few users a server and some files, then alternates:
a spawn and a reload with no backup, the same with `backup now` running. Writes
bench/results/backup-load.{json,md}. The figures are for this machine only; the
ratio (during a backup / without) is what carries to another.
"""

from __future__ import annotations

import datetime
import json
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import docker

from bench import ours
from bench.common import OURS, RESULTS_DIR, Scope, median, ratio, remove_owned, remove_owned_images
from bench.measure import Arrangement, reload_under_load, wait_for_hub
from bench.resources import machine
from bench.users import admin_signed_up, spawn, users_created
from components.names import DeploymentNames
from testkit.endpoints import free_loopback_port

ROUNDS = 3
SERVERS = 3
HOME_MB = 40  # per user, in the first backup
NEW_MB = 400  # written before each backup that is measured against


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def backup_now(client: docker.DockerClient, container: str, into: dict[str, Any]) -> None:
    started = time.monotonic()
    result = client.containers.get(container).exec_run(["backup", "now"])
    into.update(exit_code=result.exit_code, started=started, ended=time.monotonic())


def main() -> None:
    scope = Scope(f"bk{secrets.token_hex(4)}")
    client = docker.from_env(timeout=600)
    names = DeploymentNames(OURS)
    remove_owned(client)
    rows: list[dict[str, Any]] = []
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="jhbench-backup-") as work:
        repository = Path(work, "repository")
        repository.mkdir()
        project = ours.copy_of_project(Path(work, "project"))
        backup = json.dumps({"enabled": True, "repository": str(repository)})
        try:
            stack = ours.deploy(
                project, free_loopback_port(), scope, {"backup": backup}, {"backupPassword": secrets.token_hex(16)}
            )
            wait_for_hub(stack.base_url)
            admin = admin_signed_up(stack.base_url)
            users = users_created(admin, [f"bk{n}" for n in range(SERVERS + 2 * ROUNDS)])
            running = users[:SERVERS]
            for user in running:
                assert spawn(user, 120).ok
                user.write_file("bulk.bin", secrets.token_bytes(HOME_MB * 1024**2))
            arrangement = Arrangement(
                "ours", OURS, stack.base_url, names.hub_container, names.proxy_container, names.user_server_template, stack.reload
            )
            spares = iter(users[SERVERS:])
            for round_number in range(ROUNDS):
                for during_backup in (False, True):
                    backup_run: dict[str, Any] = {}
                    worker = threading.Thread(target=backup_now, args=(client, names.backup_container, backup_run))
                    if during_backup:
                        # New data, so that this backup reads long enough to cover the spawn and the reload.
                        running[round_number % SERVERS].run_code(
                            f"import os\nwith open('new-{round_number}.bin', 'wb') as f:\n"
                            f"    for _ in range({NEW_MB}): f.write(os.urandom(1 << 20))\n'written'",
                            timeout_s=300,
                        )
                        worker.start()
                        time.sleep(0.5)  # the backup is reading when the spawn starts
                    measured_from = time.monotonic()
                    spawned = spawn(next(spares), 120)
                    reload = reload_under_load(arrangement, running, SERVERS)
                    measured_to = time.monotonic()
                    if during_backup:
                        worker.join(timeout=600)
                    row = {
                        "round": round_number,
                        "during_backup": during_backup,
                        "spawn_s": spawned.seconds if spawned.ok else None,
                        "reload_failed": reload.failed,
                        "reload_total": reload.total,
                        "hub_downtime_s": reload.hub_downtime_s,
                        "backup_s": backup_run["ended"] - backup_run["started"] if backup_run else None,
                        # how much of the spawn and reload the backup overlapped (1.0: all of it)
                        "overlap": (min(measured_to, backup_run["ended"]) - measured_from) / (measured_to - measured_from)
                        if backup_run
                        else None,
                        "backup_exit_code": backup_run.get("exit_code"),
                    }
                    log(json.dumps(row))
                    rows.append(row)
        finally:
            remove_owned(client)
            remove_owned_images(client)
    write(rows, machine(client), started_at)


def write(rows: list[dict[str, Any]], machine_facts: dict[str, Any], started_at: str) -> None:
    def figures(during: bool) -> dict[str, Any]:
        chosen = [row for row in rows if row["during_backup"] is during]
        return {
            "spawn_p50_s": median([row["spawn_s"] for row in chosen if row["spawn_s"] is not None]),
            "hub_downtime_median_s": median([row["hub_downtime_s"] for row in chosen]),
            "reload_failed": sum(row["reload_failed"] for row in chosen),
            "reload_requests": sum(row["reload_total"] for row in chosen),
            "overlap_min": min((row["overlap"] for row in chosen if row["overlap"] is not None), default=None),
        }

    without, during = figures(False), figures(True)
    ratios = {
        "spawn_p50": ratio(during["spawn_p50_s"], without["spawn_p50_s"]),
        "hub_downtime_median": ratio(during["hub_downtime_median_s"], without["hub_downtime_median_s"]),
    }
    result = {
        "started_at": started_at,
        "machine": machine_facts,
        "rows": rows,
        "without_backup": without,
        "during_backup": during,
        "ratios": ratios,
        "backups_ok": all(row["backup_exit_code"] == 0 for row in rows if row["during_backup"]),
    }
    (RESULTS_DIR / "backup-load.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Spawns and reloads during a backup",
        "",
        f"Run {started_at} on {machine_facts.get('cpu_model')}, {machine_facts.get('cores')} cores, "
        f"{machine_facts.get('memory_gib')} GiB; {ROUNDS} rounds, {SERVERS} servers with {HOME_MB} MB each backed up.",
        "",
        "| | without a backup | during a backup | ratio |",
        "|---|---|---|---|",
        f"| spawn p50 (s) | {without['spawn_p50_s']:.2f} | {during['spawn_p50_s']:.2f} | {ratios['spawn_p50']:.2f} |",
        f"| reload: hub downtime median (s) | {without['hub_downtime_median_s']:.2f} | {during['hub_downtime_median_s']:.2f} "
        f"| {ratios['hub_downtime_median']:.2f} |",
        f"| reload: failed notebook requests | {without['reload_failed']}/{without['reload_requests']} "
        f"| {during['reload_failed']}/{during['reload_requests']} | |",
        "",
        f"Every backup during the measurements succeeded: {result['backups_ok']}; each covered at least "
        f"{during['overlap_min']:.0%} of its spawn and reload ({NEW_MB} MB of new data before each).",
    ]
    (RESULTS_DIR / "backup-load.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
