"""Our arrangement: the dev stack applied by the e2e harness to this engine, as `jhbench`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import OURS, Scope
from testkit.harness import CONTAINER, IMAGE, REMOTE_IMAGE, ApplyResult, EngineMocks, Harness
from testkit.program_runner import copy_project

RELOAD_EDIT = "\nget_config().JupyterHub.shutdown_on_logout = False  # bench: config reload\n"


@dataclass
class OurStack:
    harness: Harness
    first: ApplyResult
    project_dir: Path
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def image_ref(self, export: str) -> str:
        return str(self.first.run.exports[export])

    def hub_inputs(self) -> dict[str, Any]:
        return dict(self.first.run.get(CONTAINER, "hub").inputs)

    def base_image(self) -> str:
        return str(self.first.run.get(REMOTE_IMAGE, "base-image").inputs["name"])

    def build_inputs(self, image: str) -> dict[str, Any]:
        """An image's `build` inputs (context, args, platform) as the program declared them."""
        return dict(self.first.run.get(IMAGE, image).inputs["build"])

    def reload(self) -> float:
        """Edit the hub config in the project copy and apply: the hub container is replaced."""
        config_file = self.project_dir / "hub_config" / "jupyterhub_config.py"
        config_file.write_text(config_file.read_text() + RELOAD_EDIT)
        return self.harness.up().seconds

    def engine_mocks(self) -> EngineMocks:
        """The harness's engine mocks, to create or delete single resources the way it does."""
        return self.harness.engine_mocks()

    def destroy(self) -> None:
        self.harness.destroy()


def copy_of_project(project_dir: Path) -> Path:
    """The program and build contexts copied into project_dir (edits go to the copy only)."""
    project_dir.mkdir(parents=True, exist_ok=True)
    copy_project(project_dir)
    return project_dir


def deploy(
    project_dir: Path,
    port: int,
    scope: Scope,
    extra_config: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
) -> OurStack:
    """Apply the dev stack in project_dir as `jhbench`, published on 127.0.0.1:port."""
    config = {"name": OURS, "publicPort": str(port), **(extra_config or {})}
    harness = Harness(project_dir, "dev", config, run_id=scope.run_id, secrets=secrets or {})
    return OurStack(harness, harness.up(), project_dir, port)
