"""admin/shared.py: what a fill copies (owners, modes, what it leaves out) and what it refuses.
The copy into a real volume is proven by tests/e2e/test_9d_shared_volumes.py."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from admin.shared import FillError, cloned, fill, packed_folder, shared_volume
from components.config import StackConfig, parse_config


def stack(volumes: list[dict[str, str]]) -> StackConfig:
    return parse_config({"name": "jh", "spawner": {"sharedVolumes": volumes}}, {})


def test_only_a_configured_read_only_volume_is_filled() -> None:
    config = stack([{"name": "course"}, {"name": "team", "mode": "rw"}])
    assert shared_volume(config, "course").name == "course"
    with pytest.raises(FillError, match=r"no shared volume 'lecture' .*has: course, team.*sharedVolumes\[2\].name' lecture"):
        shared_volume(config, "lecture")
    with pytest.raises(FillError, match=r"team folder .*its members fill it"):
        shared_volume(config, "team")


def test_a_folder_is_packed_owned_by_root_readable_by_all_without_git_or_special_files(tmp_path: Path) -> None:
    (tmp_path / "week1").mkdir()
    (tmp_path / "week1" / "notes.md").write_text("hello")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o700)
    (tmp_path / "secret.txt").write_text("x")
    (tmp_path / "secret.txt").chmod(0o600)
    (tmp_path / "link").symlink_to("week1/notes.md")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]")
    (tmp_path / "week1" / ".git").write_text("a file of this name deeper down is kept")
    os.mkfifo(tmp_path / "pipe")
    archive, files, size = packed_folder(tmp_path)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        entries = {entry.name: entry for entry in tar.getmembers()}
    assert sorted(entries) == ["link", "run.sh", "secret.txt", "week1", "week1/.git", "week1/notes.md"]
    assert {(entry.uid, entry.gid, entry.uname) for entry in entries.values()} == {(0, 0, "root")}
    modes = {name: entry.mode for name, entry in entries.items() if not entry.issym()}
    assert modes == {"run.sh": 0o755, "secret.txt": 0o644, "week1": 0o755, "week1/.git": 0o644, "week1/notes.md": 0o644}
    assert entries["link"].linkname == "week1/notes.md"
    assert (files, size) == (4, len("hello") + len("#!/bin/sh\n") + 1 + len("a file of this name deeper down is kept"))


def test_a_repository_is_cloned_at_the_ref_asked_for(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    git = ["git", "-C", str(origin), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "--quiet", "--initial-branch", "main", str(origin)], check=True)
    (origin / "a.txt").write_text("one")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "one"], check=True)
    subprocess.run([*git, "tag", "v1"], check=True)
    (origin / "a.txt").write_text("two")
    subprocess.run([*git, "commit", "--quiet", "-am", "two"], check=True)
    (tmp_path / "main").mkdir()
    (tmp_path / "v1").mkdir()
    assert (cloned(f"file://{origin}", "", tmp_path / "main") / "a.txt").read_text() == "two"
    assert (cloned(f"file://{origin}", "v1", tmp_path / "v1") / "a.txt").read_text() == "one"
    (tmp_path / "none").mkdir()
    with pytest.raises(FillError, match=r"git clone file://.* failed: .*no-such-branch"):
        cloned(f"file://{origin}", "no-such-branch", tmp_path / "none")


class Volumes:
    def get(self, name: str) -> None:
        assert name == "jh-shared-course"


class Client:
    volumes = Volumes()


@pytest.mark.parametrize(
    ("source", "ref", "message"),
    [
        ("/no/such/folder", "", "neither a folder on this host nor a git URL"),
        ("course.zip", "", "neither a folder on this host nor a git URL"),
        ("/tmp", "main", "--ref is for a git repository"),
    ],
)
def test_a_source_that_is_neither_folder_nor_repository_is_refused_before_the_volume_is_touched(
    source: str, ref: str, message: str
) -> None:
    with pytest.raises(FillError, match=message):
        fill(Client(), stack([{"name": "course"}]), "course", source, ref)  # type: ignore[arg-type]
