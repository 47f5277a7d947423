"""Files in and out of containers through the engine's archive API (`docker cp`), for the admin commands."""

from __future__ import annotations

import io
import tarfile

import docker.errors
from docker.models.containers import Container


def read_file(container: Container, path: str) -> bytes | None:
    """A file's bytes from a container (created or running); None when there is no such file."""
    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.getmembers()[0]
        extracted = archive.extractfile(member) if member.isfile() else None
        return extracted.read() if extracted else None


def packed(files: dict[str, bytes], mode: int = 0o600) -> bytes:
    """A tar of files (path inside the archive -> bytes), owned by root, for `put_archive`."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        for name, content in files.items():
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode, entry.uid, entry.gid = len(content), mode, 0, 0
            archive.addfile(entry, io.BytesIO(content))
    return data.getvalue()
