"""Write the build locks after a pin change: `venv/bin/python -m admin.lock`.

Edit a pin in `hub_config/requirements.txt`, `build.notebook/requirements.txt` or
`build.proxy/package.json`, run this, commit both files: the next `pulumi preview`
shows the rebuilt image. Python locks come from uv (for Debian trixie's Python, the
images' interpreter), with every distribution's hash; the npm lock from npm, with
integrity hashes and without registry addresses, so any registry mirror serves it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from components.locks import NPM_LOCK, PINS, PINS_DIGEST_PREFIX, PYTHON_LOCK, lock_problem, pins_digest

PYTHON_CONTEXTS = ("hub_config", "build.notebook", "tests/e2e/hub-5.5.1")
NPM_CONTEXTS = ("build.proxy",)
IMAGE_PYTHON = "3.13"  # Debian trixie's python3
# jsonschema[format-nongpl] (via jupyter_events) pulls it in; it builds a grammar when
# imported, ~0.75 s of every hub and server start, for IRI checks nothing here makes.
NOT_INSTALLED = ("rfc3987-syntax",)


class LockError(RuntimeError):
    pass


def _uv() -> str:
    beside_python = Path(sys.executable).with_name("uv")
    found = str(beside_python) if beside_python.is_file() else shutil.which("uv")
    if found is None:
        raise LockError("uv is not installed. Fix: venv/bin/pip install -r requirements-dev.txt")
    return found


def lock_python(context: Path, index_url: str) -> None:
    command = [_uv(), "pip", "compile", PINS, "--generate-hashes", "--no-header", "--quiet"]
    command += ["--python-version", IMAGE_PYTHON, "--python-platform", "linux", "--index-url", index_url, "--native-tls"]
    for package in NOT_INSTALLED:
        command += ["--no-emit-package", package]
    result = subprocess.run(command, cwd=context, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LockError(f"uv could not lock {context / PINS}:\n{result.stderr.strip()}")
    header = (
        f"# Locked from {PINS} by `venv/bin/python -m admin.lock`; do not edit. The image installs\n"
        f"# exactly this (pip --require-hashes --no-deps). Left out: {', '.join(NOT_INSTALLED)}.\n"
        f"{PINS_DIGEST_PREFIX}{pins_digest((context / PINS).read_text())}\n"
    )
    (context / PYTHON_LOCK).write_text(header + result.stdout)


def lock_npm(context: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise LockError("npm is not installed. Fix: install Node.js's npm (Debian: apt-get install npm)")
    command = [npm, "install", "--package-lock-only", "--omit-lockfile-registry-resolved", "--ignore-scripts"]
    result = subprocess.run([*command, "--no-audit", "--no-fund"], cwd=context, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LockError(f"npm could not lock {context}/package.json:\n{result.stderr.strip()}")
    if not (context / NPM_LOCK).is_file():
        raise LockError(f"npm wrote no {context / NPM_LOCK}")


def lock_report(project_dir: Path) -> tuple[list[str], bool]:
    """A line per build folder, up to the first whose lock does not match its pins; and whether every one matches."""
    lines: list[str] = []
    for folder in (*PYTHON_CONTEXTS, *NPM_CONTEXTS):
        problem = lock_problem(project_dir / folder)
        lines.append(f"admin.lock: {folder}: {problem or 'locked'}")
        if problem:
            return lines, False
    return lines, True


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m admin.lock", description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, default=Path("."), help="the project folder (default: the current one)")
    parser.add_argument("--index-url", help="Python package index to resolve from (default: $PIP_INDEX_URL or PyPI)")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    index_url = options.index_url or os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")
    try:
        for folder in PYTHON_CONTEXTS:
            lock_python(options.project_dir / folder, index_url)
        for folder in NPM_CONTEXTS:
            lock_npm(options.project_dir / folder)
    except LockError as error:
        print(f"admin.lock: {error}", file=sys.stderr)
        return 1
    lines, all_locked = lock_report(options.project_dir)
    for line in lines:
        print(line)
    return 0 if all_locked else 1


if __name__ == "__main__":
    sys.exit(main())
