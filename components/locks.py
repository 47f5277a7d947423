"""The build locks: every package an image installs, by exact version and hash.

The Python images install their `requirements.lock` only (pip `--require-hashes
--no-deps`), the proxy its `package-lock.json` only (`npm ci`), so the same commit
builds the same packages anywhere, and an image's content tag (a hash of its build
context) changes exactly when a locked version does. Operators edit the pins in
`requirements.txt` / `package.json`; `venv/bin/python -m admin.lock` writes the locks.
A lock records a digest of the pins it was made from, so a pin edited without
re-locking is found here, at preview and in the unit tests.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

PINS = "requirements.txt"
PYTHON_LOCK = "requirements.lock"
NPM_PINS = "package.json"
NPM_LOCK = "package-lock.json"
PINS_DIGEST_PREFIX = "# pins sha256: "
RELOCK = "venv/bin/python -m admin.lock"
_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)")


def requirement_lines(pins_text: str) -> list[str]:
    """The requirement lines of a requirements file, without comments or blank lines."""
    lines = (line.split("#", 1)[0].strip() for line in pins_text.splitlines())
    return [line for line in lines if line]


def pins_digest(pins_text: str) -> str:
    """A digest of what is asked for (comments and order do not count)."""
    return hashlib.sha256("\n".join(sorted(requirement_lines(pins_text))).encode()).hexdigest()


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock_text: str) -> dict[str, str]:
    """Package name (normalized) -> version, from a hashed requirements lock."""
    versions = {}
    for line in lock_text.splitlines():
        found = _PINNED.match(line)
        if found:
            versions[_normalized(found.group(1))] = found.group(3)
    return versions


def python_lock_problem(folder: Path) -> str | None:
    pins, lock = folder / PINS, folder / PYTHON_LOCK
    if not lock.is_file():
        return f"{lock} is missing. Fix: run `{RELOCK}`"
    pins_text, lock_text = pins.read_text(), lock.read_text()
    if f"{PINS_DIGEST_PREFIX}{pins_digest(pins_text)}" not in lock_text.splitlines():
        return f"{lock} is out of date with {pins}. Fix: run `{RELOCK}`"
    locked = locked_versions(lock_text)
    for line in requirement_lines(pins_text):
        found = _PINNED.match(line)
        if found is None:
            return f"{pins}: `{line}` is not pinned (name==version). Fix: pin it, then run `{RELOCK}`"
        if locked.get(_normalized(found.group(1))) != found.group(3):
            return f"{lock} does not install {found.group(1)}=={found.group(3)}. Fix: run `{RELOCK}`"
    return None


def npm_lock_problem(folder: Path) -> str | None:
    pins, lock = folder / NPM_PINS, folder / NPM_LOCK
    if not lock.is_file():
        return f"{lock} is missing. Fix: run `{RELOCK}`"
    wanted = json.loads(pins.read_text()).get("dependencies", {})
    packages = json.loads(lock.read_text()).get("packages", {})
    if packages.get("", {}).get("dependencies", {}) != wanted:
        return f"{lock} is out of date with {pins}. Fix: run `{RELOCK}`"
    for name, version in wanted.items():
        if packages.get(f"node_modules/{name}", {}).get("version") != version:
            return f"{lock} does not install {name}@{version}. Fix: pin an exact version, then run `{RELOCK}`"
    return None


def lock_problem(context: Path) -> str | None:
    """Why a build context's lock cannot be built from, or None (also for contexts without pins)."""
    if (context / PINS).is_file():
        return python_lock_problem(context)
    if (context / NPM_PINS).is_file():
        return npm_lock_problem(context)
    return None
