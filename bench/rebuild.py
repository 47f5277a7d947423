"""Notebook image rebuild: cold (--no-cache) and warm after a one-line change at the end."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import docker

from bench.common import OURS, Scope
from tests.e2e.harness import ApplyError


def _build(client: docker.DockerClient, context: Path, build: dict[str, Any], tag: str, scope: Scope, nocache: bool) -> float:
    started = time.monotonic()
    for chunk in client.api.build(
        path=str(context),
        buildargs=build.get("args", {}),
        platform=build.get("platform"),
        tag=tag,
        labels=scope.labels,
        nocache=nocache,
        rm=True,
        forcerm=True,
        decode=True,
    ):
        if "error" in chunk:
            raise ApplyError(f"building {tag}: {chunk['error'].strip()}")
    return time.monotonic() - started


def rebuild_times(
    client: docker.DockerClient, source: Path, work_dir: Path, build: dict[str, Any], scope: Scope
) -> tuple[float, float]:
    """(cold, warm) seconds to build a copy of the notebook build context, with the
    build args and platform the program declared (`build` inputs of its Image)."""
    context = work_dir / "build.notebook.rebuild"
    shutil.copytree(source, context)
    cold = _build(client, context, build, f"{OURS}-rebuild:cold", scope, nocache=True)
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().rstrip("\n") + f'\nRUN echo "bench edit {scope.run_id}" > /tmp/bench-edit\n')
    warm = _build(client, context, build, f"{OURS}-rebuild:warm", scope, nocache=False)
    return cold, warm
