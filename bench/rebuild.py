"""Notebook image rebuild with the builder the provider uses (BuildKit): cold (--no-cache),
then warm after a one-line change at the end."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from bench.common import OURS, Scope
from testkit.harness import build_image


def _build(context: Path, build: dict[str, Any], tag: str, scope: Scope, no_cache: bool) -> float:
    started = time.monotonic()
    build_image(context, "Dockerfile", tag, build.get("args", {}), build.get("platform"), scope.labels, no_cache=no_cache)
    return time.monotonic() - started


def rebuild_times(source: Path, work_dir: Path, build: dict[str, Any], scope: Scope) -> tuple[float, float]:
    """(cold, warm) seconds to build a copy of the notebook build context, with the
    build args and platform the program declared (`build` inputs of its Image)."""
    context = work_dir / "build.notebook.rebuild"
    shutil.copytree(source, context)
    cold = _build(context, build, f"{OURS}-rebuild:cold", scope, no_cache=True)
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().rstrip("\n") + f'\nRUN echo "bench edit {scope.run_id}" > /tmp/bench-edit\n')
    warm = _build(context, build, f"{OURS}-rebuild:warm", scope, no_cache=False)
    return cold, warm
