#!/usr/bin/env bash
# The project's test command: lint, type check, unit tests (mocks, seconds) and
# e2e tests (a real Docker engine, a real browser). Installs what it needs on a
# fresh Debian host: docker.io, debootstrap and chromium from Debian, the Python
# packages into ./venv. Extra arguments go to pytest (e.g. tests/unit).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test: %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null 2>&1 || ! command -v certutil >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
  log "installing chromium, certutil and openssl (Debian) for the browser and TLS tests"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium libnss3-tools openssl >/dev/null
fi

if [ ! -x venv/bin/python ]; then
  python3 -m venv venv
fi
venv/bin/pip install -q -r requirements-dev.txt

log "lint and type check"
venv/bin/ruff check .
venv/bin/ruff format --check .
venv/bin/mypy .

log "documentation site (every internal link and page checked)"
NO_MKDOCS_2_WARNING=1 venv/bin/mkdocs build --strict --quiet --site-dir site

log "engine and base image"
# Test hosts reach no registry: make the base image locally, never try a pull.
export PULL_BASE_IMAGE=no
bash scripts/bootstrap-engine.sh

if [ $# -gt 0 ]; then
  log "tests: $*"
  exec venv/bin/python -m pytest "$@"
fi
# Unit tests are independent program runs under mocks: spread over the cores. The e2e
# scenarios share one deployment on one engine: one at a time.
log "unit tests"
venv/bin/python -m pytest -n auto tests/unit
log "e2e tests"
exec venv/bin/python -m pytest tests/e2e
