"""A stack's settings read from `Pulumi.<stack>.yaml`, for commands that run outside `pulumi up`.

The same parser as the program's (`components.config.parse_config`), so a command
sees the deployment's names exactly as the program does. Secret values stay
encrypted in the file: a command learns only that they are set.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import docker
import pulumi
import yaml

from components.config import ConfigError, StackConfig, parse_config
from components.config.loading import SECRET_NAMES, plain_secret_error
from components.public_port import LOCAL_ENGINE

ENCRYPTED = "<encrypted in the stack file>"
PROJECT_DIR = Path(__file__).resolve().parent.parent


def _as_cli_value(value: Any) -> Any:
    """What the Pulumi CLI hands the program: top-level scalars as text, objects as they are."""
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, dict | list) else str(value)


def read_stack(project_dir: Path, stack: str) -> tuple[StackConfig, str]:
    """The stack's checked config, and the engine its docker provider talks to."""
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"]
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        raise SystemExit(f"no stack '{stack}': {stack_file} does not exist (pulumi stack init {stack} makes it)")
    config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    raw: dict[str, Any] = {}
    secrets: dict[str, pulumi.Output[str] | None] = {}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if namespace != project:
            continue  # provider settings such as docker:host
        if isinstance(value, dict) and set(value) == {"secure"}:
            secrets[name] = pulumi.Output.secret(ENCRYPTED)
        elif name in SECRET_NAMES:
            raise plain_secret_error(name)
        else:
            raw[name] = _as_cli_value(value)
    engine = str(config.get("docker:host") or os.environ.get("DOCKER_HOST") or LOCAL_ENGINE)
    return parse_config(raw, secrets), engine


def printable(text: str) -> str:
    """What a command prints of text a container or the hub's database gave it: no control
    character (a terminal's escape sequences) and no non-ASCII, each escaped instead; lines kept."""
    return "\n".join(line.encode("unicode_escape").decode("ascii") for line in text.split("\n"))


def command_line(module: str, doc: str) -> argparse.ArgumentParser:
    """An admin command's parser, with --stack and --project-dir."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the deployment's stack (Pulumi.<stack>.yaml)")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help="the project folder (default: this one)")
    return parser


def open_stack(args: argparse.Namespace, command: str, timeout_s: int) -> tuple[StackConfig, docker.DockerClient]:
    """The stack's config and a client of its engine; a config error ends the command with its message."""
    try:
        config, engine = read_stack(args.project_dir, args.stack)
    except ConfigError as error:
        raise SystemExit(f"{command}: the stack's config: {error}") from None
    return config, docker.DockerClient(base_url=engine, timeout=timeout_s)
