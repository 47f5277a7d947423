"""Run the Pulumi program without the Pulumi CLI, under `pulumi.runtime.set_mocks`.

Used by the unit tests (with mocks that only echo inputs) and by the e2e harness
(with mocks that apply each resource to a real Docker engine). The monitor
records every registration, including the resource options that
`MockResourceArgs` does not carry (pulumi/pulumi#14421).
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

PROJECT = "jupyterhub-docker"
REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = (
    "__main__.py",
    "Pulumi.yaml",
    "Pulumi.dev.yaml",
    "Pulumi.prod.yaml",
    "components",
    "hub_config",
    "build.proxy",
    "build.notebook",
    "docker_api_proxy",
    "build.backup",
    "build.prometheus",
    "build.tls",
)


def copy_project(destination: Path) -> None:
    """Copy the program and its build contexts, for a test that edits them."""
    for name in PROJECT_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, destination / name)


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    delete_before_replace: bool
    retain_on_delete: bool
    dependencies: list[str]
    replace_on_changes: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    secret_inputs: set[str] = field(default_factory=set)
    outputs: dict[str, Any] = field(default_factory=dict)  # what a component registered


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Records each registration with its options before the mocks create it."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type != "pulumi:pulumi:Stack":
            fields = request.object.fields
            self.registrations[urn] = Registration(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=request.custom,
                delete_before_replace=request.deleteBeforeReplace,
                retain_on_delete=request.retainOnDelete,
                dependencies=list(request.dependencies),
                replace_on_changes=list(request.replaceOnChanges),
                secret_inputs={key for key in fields if _is_secret(fields[key])},
            )
        response = super().RegisterResource(request)
        if urn in self.registrations:
            self.registrations[urn].inputs = unwrap_secrets(rpc.deserialize_properties(request.object))
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if request.urn in self.registrations:
            self.registrations[request.urn].outputs = unwrap_secrets(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def _is_secret(value: Any) -> bool:
    struct = value.struct_value if value.HasField("struct_value") else None
    if struct is not None and rpc._special_sig_key in struct.fields:
        return struct.fields[rpc._special_sig_key].string_value == rpc._special_secret_sig
    if value.HasField("list_value"):
        return any(_is_secret(item) for item in value.list_value.values)
    if struct is not None:
        return any(_is_secret(item) for item in struct.fields.values())
    return False


def unwrap_secrets(value: Any) -> Any:
    """Plain values; which inputs were secret is kept in Registration.secret_inputs."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return unwrap_secrets(value["value"])
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


def stack_config(stack: str, project_dir: Path = REPO_ROOT) -> dict[str, str]:
    """A stack's config as the Pulumi CLI hands it to the program: objects as JSON text."""
    document = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text())
    values = {}
    for key, value in (document.get("config") or {}).items():
        values[key] = value if isinstance(value, str) else json.dumps(value)
    return values


@dataclass
class ProgramRun:
    monitor: RecordingMonitor
    exports: dict[str, Any]
    secret_exports: set[str] = field(default_factory=set)  # keys of the exports Pulumi keeps encrypted

    @property
    def registrations(self) -> dict[str, Registration]:
        return self.monitor.registrations

    def get(self, type_: str, name: str) -> Registration:
        matches = [r for r in self.registrations.values() if r.type == type_ and r.name == name]
        assert len(matches) == 1, f"expected one {type_} named {name}, got {len(matches)}"
        return matches[0]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations.values() if r.type == type_]


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run_program(
    mocks: pulumi.runtime.Mocks,
    *,
    stack: str = "dev",
    project_dir: Path = REPO_ROOT,
    config: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    on_monitor: Callable[[RecordingMonitor], None] | None = None,
) -> ProgramRun:
    """Evaluate __main__.py in project_dir as `pulumi up` would (preview=False).

    config: project-relative keys (e.g. "publicPort") overriding the stack file.
    secrets: project-relative keys set as secret config.
    """
    monitor = RecordingMonitor(mocks)
    if on_monitor is not None:
        on_monitor(monitor)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    values = stack_config(stack, project_dir)
    values.update({f"{PROJECT}:{k}": v for k, v in (config or {}).items()})
    values.update({f"{PROJECT}:{k}": v for k, v in (secrets or {}).items()})
    pulumi.runtime.set_all_config(values, [f"{PROJECT}:{k}" for k in secrets or {}])
    exports: dict[str, Any] = {}
    secret_exports: set[str] = set()

    async def secret_keys(values: dict[str, Any]) -> set[str]:
        return {key for key, value in values.items() if isinstance(value, pulumi.Output) and await value.is_secret()}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        namespace = runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
        outputs = pulumi.Output.from_input(namespace["outputs"])
        secret: pulumi.Output[set[str]] = pulumi.Output.from_input(asyncio.ensure_future(secret_keys(namespace["outputs"])))  # type: ignore[arg-type]
        return pulumi.Output.all(outputs.apply(exports.update), secret.apply(secret_exports.update))

    with _cwd(project_dir):
        program()
    return ProgramRun(monitor=monitor, exports=exports, secret_exports=secret_exports)
