"""An image's tag is a hash of exactly what Docker builds from: the context files and the build args."""

from __future__ import annotations

import importlib.util
import platform
import sys
from pathlib import Path

import pytest

from components.built_image import content_tag, context_files, read_ca_certificates

ARGS = {"BASE_IMAGE": "debian:trixie-slim", "PIP_INDEX_URL": "https://pypi.org/simple"}


@pytest.fixture
def context(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM base\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.py").write_text("a = 1\n")
    return tmp_path


def test_the_tag_is_twelve_hex_digits_and_stable(context: Path) -> None:
    tag = content_tag(context, ARGS)
    assert len(tag) == 12 and int(tag, 16) >= 0
    assert content_tag(context, dict(reversed(ARGS.items()))) == tag


@pytest.mark.parametrize(
    "args",
    [
        {**ARGS, "BASE_IMAGE": "debian:13"},
        {**ARGS, "PIP_INDEX_URL": "https://mirror/simple"},
        {**ARGS, "EXTRA_CA_CERTS": "PEM"},
        {"BASE_IMAGE": "debian:trixie-slim"},
        {"BASE_IMAGE": "debian:trixie-slimPIP_INDEX_URL=https://pypi.org/simple"},
        {},
    ],
)
def test_every_build_arg_is_part_of_the_tag(context: Path, args: dict[str, str]) -> None:
    assert content_tag(context, args) != content_tag(context, ARGS)


def test_every_file_byte_and_name_is_part_of_the_tag(context: Path) -> None:
    tags = {content_tag(context, ARGS)}
    (context / "lib" / "a.py").write_text("a = 2\n")
    tags.add(content_tag(context, ARGS))
    (context / "lib" / "a.py").rename(context / "lib" / "b.py")
    tags.add(content_tag(context, ARGS))
    (context / "lib" / "c.py").write_text("")
    tags.add(content_tag(context, ARGS))
    # Moving a byte from one file's end to the next file's start must not give the same hash.
    (context / "lib" / "b.py").write_text("a = 2")
    (context / "lib" / "c.py").write_text("\n")
    tags.add(content_tag(context, ARGS))
    assert len(tags) == 5


def test_files_docker_ignores_are_not_sent_nor_hashed(context: Path) -> None:
    (context / ".dockerignore").write_text("# build output\n\n*.pyc\ncache/\n  notes.md  \n")
    (context / "# build output").write_text("a comment line is not a pattern")
    (context / "cachex.txt").write_text("cache/ names a folder, not a prefix")
    tag = content_tag(context, ARGS)
    (context / "x.pyc").write_bytes(b"\0")
    (context / "cache").mkdir()
    (context / "cache" / "blob").write_text("big")
    (context / "notes.md").write_text("draft")
    assert content_tag(context, ARGS) == tag
    assert [p.relative_to(context).as_posix() for p in context_files(context)] == [
        "# build output",
        ".dockerignore",
        "Dockerfile",
        "cachex.txt",
        "lib/a.py",
    ]


def test_without_a_dockerignore_every_file_is_sent(context: Path) -> None:
    (context / "# not a comment").write_text("x")
    assert [p.relative_to(context).as_posix() for p in context_files(context)] == ["# not a comment", "Dockerfile", "lib/a.py"]


def test_ca_certificates_from_a_file_or_every_crt_of_a_directory(tmp_path: Path) -> None:
    assert read_ca_certificates("") == ""
    (tmp_path / "b.crt").write_text("B\n\n")
    (tmp_path / "a.crt").write_text("  A")
    (tmp_path / "c.pem").write_text("C")
    assert read_ca_certificates(str(tmp_path)) == "A\nB\n"
    assert read_ca_certificates(str(tmp_path / "c.pem")) == "C\n"


@pytest.mark.parametrize(
    ("machine", "expected"), [("x86_64", "linux/amd64"), ("aarch64", "linux/arm64"), ("s390x", "linux/s390x")]
)
def test_images_are_built_for_the_hosts_architecture(monkeypatch: pytest.MonkeyPatch, machine: str, expected: str) -> None:
    monkeypatch.setattr(platform, "machine", lambda: machine)
    spec = importlib.util.spec_from_file_location("built_image_copy", Path(__file__).parents[2] / "components" / "built_image.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "built_image_copy", module)
    spec.loader.exec_module(module)
    assert expected == module.BUILD_PLATFORM
