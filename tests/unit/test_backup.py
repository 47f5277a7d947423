"""Backups: the container the program declares, and the backup script's own decisions."""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
import sqlite3
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from components.backup import credential_envs
from components.config import ConfigError, parse_config
from testkit.harness import CONTAINER, IMAGE, VOLUME
from testkit.program_runner import REPO_ROOT, run_program
from tests.unit.echo_mocks import ProviderEchoMocks

BACKUP = {"backup": json.dumps({"enabled": True, "repository": "/srv/backups/hub", "dailyAt": "02:30", "keepDaily": 3})}
PASSWORD = "restic-password-do-not-print"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("backup_script", REPO_ROOT / "build.backup" / "backup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()


def test_the_backup_container_reads_volumes_read_only_and_writes_only_the_repository() -> None:
    run = run_program(ProviderEchoMocks(), config=BACKUP, secrets={"backupPassword": PASSWORD})
    backup = run.get(CONTAINER, "backup")
    inputs = backup.inputs
    assert (inputs["name"], inputs["command"]) == ("jupyterhub-dev-backup", ["backup", "serve"])
    assert inputs["mounts"] == [
        {"type": "bind", "source": "/var/lib/docker/volumes", "target": "/volumes", "readOnly": True},
        {"type": "bind", "source": "/srv/backups/hub", "target": "/srv/backups/hub"},
    ]
    assert inputs["volumes"] == [{"volumeName": "jupyterhub-dev-backup-state", "containerPath": "/var/lib/jupyterhub-backup"}]
    assert inputs["capabilities"] == {"adds": ["DAC_READ_SEARCH"], "drops": ["ALL"]}
    assert inputs["securityOpts"] == ["no-new-privileges"]
    assert "wait" not in inputs  # a failing repository never blocks a deploy
    assert inputs["envs"] == [f"RESTIC_PASSWORD={PASSWORD}", "BACKUP_SETTINGS=/etc/jupyterhub-backup/settings.json"]
    assert "envs" in backup.secret_inputs
    settings = json.loads(inputs["uploads"][0]["content"])
    assert settings == {
        "deployment": "jupyterhub-dev",
        "volumesDir": "/volumes",
        "hubDataVolume": "jupyterhub-dev-hub-data",
        "homeVolumeTemplate": "jupyterhub-dev-home-{username}",
        "tlsDataVolume": "",
        "sharedVolumes": [],
        "repository": "/srv/backups/hub",
        "dailyAt": "02:30",
        "keep": {"daily": 3, "weekly": 4, "monthly": 12},
        "stateDir": "/var/lib/jupyterhub-backup",
    }
    assert PASSWORD not in json.dumps([r.inputs for r in run.registrations.values() if r.name != "backup"])
    assert run.get(VOLUME, "backup-state").inputs["name"] == "jupyterhub-dev-backup-state"
    assert run.get(IMAGE, "backup-image").inputs["build"]["context"] == "build.backup"


def test_with_acme_the_backup_takes_the_certificates_and_account_once_they_exist(tmp_path: Path) -> None:
    acme = {"publicHost": "hub.example.org", "tls": json.dumps({"mode": "acme", "acmeEmail": "ops@example.org"})}
    run = run_program(ProviderEchoMocks(), config={**BACKUP, **acme}, secrets={"backupPassword": PASSWORD})
    settings = json.loads(run.get(CONTAINER, "backup").inputs["uploads"][0]["content"])
    assert settings["tlsDataVolume"] == "jupyterhub-dev-tls-data"
    config = {"volumesDir": str(tmp_path), "tlsDataVolume": "jupyterhub-dev-tls-data"}
    assert script.tls_data(config) == []  # before the terminator's first start
    (tmp_path / "jupyterhub-dev-tls-data" / "_data").mkdir(parents=True)
    assert script.tls_data(config) == [tmp_path / "jupyterhub-dev-tls-data" / "_data"]
    assert script.tls_data({**config, "tlsDataVolume": ""}) == []


def test_the_backup_takes_the_shared_volumes_the_engine_has_made(tmp_path: Path) -> None:
    shared = {"spawner": json.dumps({"sharedVolumes": [{"name": "course"}, {"name": "team", "mode": "rw"}]})}
    run = run_program(ProviderEchoMocks(), config={**BACKUP, **shared}, secrets={"backupPassword": PASSWORD})
    settings = json.loads(run.get(CONTAINER, "backup").inputs["uploads"][0]["content"])
    assert settings["sharedVolumes"] == ["jupyterhub-dev-shared-course", "jupyterhub-dev-shared-team"]
    (tmp_path / "jupyterhub-dev-shared-team" / "_data").mkdir(parents=True)
    assert script.shared_volumes({**settings, "volumesDir": str(tmp_path)}) == [tmp_path / "jupyterhub-dev-shared-team" / "_data"]


def test_a_remote_repository_mounts_nothing_and_gets_its_credentials_as_environment() -> None:
    remote = {"backup": json.dumps({"enabled": True, "repository": "s3:https://s3.example.org/bucket/hub"})}
    credentials = "AWS_ACCESS_KEY_ID=key\nAWS_SECRET_ACCESS_KEY=secret\n"
    run = run_program(ProviderEchoMocks(), config=remote, secrets={"backupPassword": "p", "backupCredentials": credentials})
    inputs = run.get(CONTAINER, "backup").inputs
    assert [m["target"] for m in inputs["mounts"]] == ["/volumes"]
    assert inputs["envs"][:3] == ["RESTIC_PASSWORD=p", "AWS_ACCESS_KEY_ID=key", "AWS_SECRET_ACCESS_KEY=secret"]


def test_backups_are_off_by_default_and_need_a_repository_and_a_password() -> None:
    assert parse_config({}, {}).backup.enabled is False
    with pytest.raises(ConfigError, match=r"'backup.repository' = '': required with backup.enabled"):
        parse_config({"backup": {"enabled": True}}, {})
    with pytest.raises(
        ConfigError, match=r"'backupPassword' = None: required with backup.enabled\. Fix: pulumi config set --secret"
    ):
        parse_config({"backup": {"enabled": True, "repository": "/b"}}, {})
    for bad in ("relative/path", "ftp://x", ""):
        if bad:
            with pytest.raises(ConfigError, match="not a restic repository"):
                parse_config({"backup": {"repository": bad}}, {})
    with pytest.raises(ConfigError, match="not a time of day"):
        parse_config({"backup": {"dailyAt": "24:00"}}, {})


def test_credentials_are_key_value_lines_and_a_bad_line_is_named_without_its_text() -> None:
    assert credential_envs("A=1\n\n B_2=x y \n") == ["A=1", "B_2=x y"]
    with pytest.raises(ValueError, match="line 2 is not KEY=value") as refused:
        credential_envs("A=1\nsecret-without-a-key\n")
    assert "secret-without-a-key" not in str(refused.value)


@pytest.mark.parametrize(
    ("now", "daily_at", "seconds"),
    [("2026-01-01T02:00:00", "03:00", 3600), ("2026-01-01T03:00:00", "03:00", 86400), ("2026-01-01T23:59:00", "00:00", 60)],
)
def test_the_next_backup_is_at_the_next_daily_time(now: str, daily_at: str, seconds: float) -> None:
    moment = datetime.datetime.fromisoformat(now).replace(tzinfo=datetime.UTC)
    assert script.seconds_until(daily_at, moment) == seconds


def test_homes_are_the_volumes_named_by_the_template(tmp_path: Path) -> None:
    for name in ("hub-home-ada", "hub-home-bob", "hub-hub-data", "hub-home-", "hub-home-x_y", "other-home-cy"):
        (tmp_path / name / "_data").mkdir(parents=True)
    (tmp_path / "hub-home-nodata").mkdir()
    config: dict[str, Any] = {"volumesDir": str(tmp_path), "homeVolumeTemplate": "hub-home-{username}"}
    assert [p.parent.name for p in script.home_volumes(config)] == ["hub-home-ada", "hub-home-bob"]


def test_the_hub_database_is_copied_consistently_while_it_is_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "volumes" / "hub-hub-data" / "_data"
    data.mkdir(parents=True)
    live = sqlite3.connect(data / "jupyterhub.sqlite")
    live.execute("CREATE TABLE users (name TEXT)")
    live.execute("INSERT INTO users VALUES ('ada')")
    live.commit()
    live.execute("INSERT INTO users VALUES ('uncommitted')")  # a transaction still open in the hub
    (data / "jupyterhub_cookie_secret").write_text("ab" * 32)
    (data / "jupyterhub_cookie_secret").chmod(0o600)
    monkeypatch.setattr(script, "STAGE", tmp_path / "stage")
    script.stage_hub_data({"volumesDir": str(tmp_path / "volumes"), "hubDataVolume": "hub-hub-data"})
    copy = sqlite3.connect(tmp_path / "stage" / "jupyterhub.sqlite")
    assert copy.execute("SELECT name FROM users").fetchall() == [("ada",)]
    assert (tmp_path / "stage" / "jupyterhub_cookie_secret").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "stage" / "jupyterhub.sqlite").stat().st_mode & 0o777 == 0o600
    live.close()


def test_health_reports_a_failed_or_stale_backup(tmp_path: Path) -> None:
    config = {"stateDir": str(tmp_path)}
    now = datetime.datetime.now(datetime.UTC)
    assert script.health(config) == 0  # just deployed
    (tmp_path / "started").write_text((now - datetime.timedelta(hours=27)).isoformat())
    assert script.health(config) == 1  # deployed over a day ago, never backed up
    status = {"result": "ok", "lastSuccess": (now - datetime.timedelta(hours=2)).isoformat()}
    (tmp_path / "status.json").write_text(json.dumps(status))
    assert script.health(config) == 0
    (tmp_path / "status.json").write_text(json.dumps({**status, "result": "failed", "error": "repository gone"}))
    assert script.health(config) == 1
    (tmp_path / "status.json").write_text(
        json.dumps({"result": "ok", "lastSuccess": (now - datetime.timedelta(hours=27)).isoformat()})
    )
    assert script.health(config) == 1


def test_a_snapshot_is_chosen_by_id_prefix_or_as_the_latest_and_lists_its_homes() -> None:
    from admin.restore import RestoreError, chosen, homes_in

    listed = [
        {"id": "aaaa1111", "short_id": "aaaa1111", "time": "2026-11-29T03:00:00Z", "paths": ["/stage/hub-data"]},
        {
            "id": "bbbb2222",
            "short_id": "bbbb2222",
            "time": "2026-11-30T03:00:00Z",
            "paths": ["/stage/hub-data", "/volumes/hub-home-ada/_data", "/volumes/hub-home-bob/_data"],
        },
    ]
    assert chosen(listed, "latest")["id"] == "bbbb2222"
    assert chosen(listed, "aaaa")["id"] == "aaaa1111"
    assert homes_in(listed[1]) == ["hub-home-ada", "hub-home-bob"]
    with pytest.raises(RestoreError, match="no single snapshot 'cccc'"):
        chosen(listed, "cccc")
    with pytest.raises(RestoreError, match="no snapshot of this deployment yet"):
        chosen([], "latest")


def test_a_restore_target_must_be_the_snapshots_folder_name(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="must end in /hub-data"):
        script.restore({"volumesDir": "/volumes", "repository": "/r", "stateDir": str(tmp_path)}, "abc", str(tmp_path), [])


@pytest.mark.parametrize(
    ("exit_code", "outcome"),
    [
        (0, "opened"),
        (10, "initialised"),
        (12, "refuses this password (backupPassword)"),
        (1, "restic cannot open the repository"),
    ],
)
def test_the_repository_is_made_on_first_use_and_a_wrong_password_is_said_plainly(
    exit_code: int, outcome: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, ...]] = []

    def restic(config: dict[str, Any], *args: str) -> Any:
        calls.append(args)
        return SimpleNamespace(returncode=exit_code if args == ("cat", "config") else 0, stderr="Fatal: something", stdout="")

    monkeypatch.setattr(script, "restic", restic)
    config = {"repository": "/r"}
    if outcome in ("opened", "initialised"):
        script.open_repository(config)
        assert calls == [("cat", "config")] + ([("init",)] if outcome == "initialised" else [])
        assert ("initialised the repository /r" in capsys.readouterr().out) is (outcome == "initialised")
    else:
        with pytest.raises(RuntimeError, match=re.escape(outcome)):
            script.open_repository(config)
        assert calls == [("cat", "config")]  # never an init over a repository it cannot open


def test_the_hubs_crypt_key_is_backed_up_when_it_has_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "volumes" / "hub-hub-data" / "_data"
    data.mkdir(parents=True)
    sqlite3.connect(data / "jupyterhub.sqlite").close()
    (data / "jupyterhub_cookie_secret").write_text("ab" * 32)
    monkeypatch.setattr(script, "STAGE", tmp_path / "stage")
    settings = {"volumesDir": str(tmp_path / "volumes"), "hubDataVolume": "hub-hub-data"}
    script.stage_hub_data(settings)
    assert not (tmp_path / "stage" / "jupyterhub_crypt_key").exists()  # native logins: the hub makes none
    (data / "jupyterhub_crypt_key").write_text("cd" * 32)
    (data / "jupyterhub_crypt_key").chmod(0o600)
    script.stage_hub_data(settings)
    staged = tmp_path / "stage" / "jupyterhub_crypt_key"
    assert staged.read_text() == "cd" * 32 and staged.stat().st_mode & 0o777 == 0o600
