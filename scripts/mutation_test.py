"""Mutation testing of the code that decides what runs: change one thing, see a test fail.

Each mutant is one small change to one file (a comparison flipped or moved by one,
`and`/`or` swapped, a `not` dropped, a condition forced, a number moved by one, a
boolean flipped, a string emptied, an allow-list entry or a dict entry removed, a
keyword argument or a call statement dropped). The file's unit tests run against each
mutant in a scratch copy of the project; a mutant that no test notices survives.

    venv/bin/python scripts/mutation_test.py                 # every file in FILES
    venv/bin/python scripts/mutation_test.py docker_api_proxy/wire.py --jobs 2

Prints each file's score (killed / mutants) and every survivor (file:line and the
change). It takes tens of minutes on 2 cores: it is not part of the test command.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UNIT = "tests/unit"
# The files that decide what runs, and the unit tests that speak for each.
_PROGRAM_TESTS = [f"{UNIT}/test_config.py", f"{UNIT}/test_hub_config.py", f"{UNIT}/test_program.py"]
_FROZEN = f"{UNIT}/test_frozen.py"  # every dataclass of the program and the filter is frozen
CONFIG_MODULES = sorted(path.stem for path in (REPO / "components" / "config").glob("*.py") if path.stem != "__init__")
FILES = {
    # test_metrics.py, test_tls.py, test_swarm.py, test_backup.py and test_adopt.py hold those sections' checks and the admin
    # commands' reading of a stack file.
    **{
        f"components/config/{module}.py": [
            *_PROGRAM_TESTS,
            f"{UNIT}/test_docs.py",
            f"{UNIT}/test_metrics.py",
            f"{UNIT}/test_tls.py",
            f"{UNIT}/test_swarm.py",
            f"{UNIT}/test_backup.py",
            f"{UNIT}/test_adopt.py",
            f"{UNIT}/test_imports.py",
            _FROZEN,
        ]
        for module in CONFIG_MODULES
    },
    "components/names.py": [f"{UNIT}/test_names.py", *_PROGRAM_TESTS, _FROZEN],
    "components/user_servers.py": [*_PROGRAM_TESTS, _FROZEN],
    "components/hub_addons.py": [*_PROGRAM_TESTS, _FROZEN],
    "components/hub_settings.py": [*_PROGRAM_TESTS, f"{UNIT}/test_certificate_metrics.py"],
    "components/oidc_discovery.py": [f"{UNIT}/test_identity_provider.py"],
    "components/images.py": [f"{UNIT}/test_names.py", f"{UNIT}/test_program.py", _FROZEN],
    "components/deployment.py": [f"{UNIT}/test_hub_config.py", f"{UNIT}/test_program.py", _FROZEN],
    "components/preflight.py": [f"{UNIT}/test_preflight.py", f"{UNIT}/test_program.py", f"{UNIT}/test_hub_config.py", _FROZEN],
    "components/hub.py": [f"{UNIT}/test_program.py", _FROZEN],
    "components/shared_volumes.py": [f"{UNIT}/test_program.py", _FROZEN],
    "components/built_image.py": [f"{UNIT}/test_built_image.py", f"{UNIT}/test_program.py", _FROZEN],
    "components/host_image.py": [f"{UNIT}/test_program.py", _FROZEN],
    "components/public_port.py": [f"{UNIT}/test_public_port.py", f"{UNIT}/test_program.py"],
    "components/tls.py": [f"{UNIT}/test_tls.py", f"{UNIT}/test_program.py", f"{UNIT}/test_swarm.py", _FROZEN],
    "hub_config/certificate_metrics.py": [f"{UNIT}/test_certificate_metrics.py"],
    "hub_config/fresh_lookups.py": [f"{UNIT}/test_fresh_lookups.py"],
    "hub_config/jupyterhub_config.py": [
        f"{UNIT}/test_hub_config.py",
        f"{UNIT}/test_certificate_metrics.py",
        f"{UNIT}/test_fresh_lookups.py",
        f"{UNIT}/test_program.py",
    ],
    "hub_config/spawners.py": [f"{UNIT}/test_spawners.py"],
    "hub_config/profiles.py": [f"{UNIT}/test_profiles.py", f"{UNIT}/test_spawners.py"],
    "docker_api_proxy/wire.py": [f"{UNIT}/test_docker_api_filter.py", _FROZEN],
    # The swarm tests first: they take seconds, and most of these files' new code is theirs.
    "docker_api_proxy/policy.py": [
        f"{UNIT}/test_docker_api_filter_swarm.py",
        f"{UNIT}/test_docker_api_filter.py",
        f"{UNIT}/test_named_servers.py",
        _FROZEN,
    ],
    "docker_api_proxy/filter.py": [
        f"{UNIT}/test_docker_api_filter_swarm.py",
        f"{UNIT}/test_docker_api_filter.py",
        f"{UNIT}/test_named_servers.py",
    ],
}
MUTANT_TIMEOUT_S = 30  # the slowest test file takes ~12 s under a second job
COPY_IGNORE = shutil.ignore_patterns("venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", "test-artifacts", "bench")

COMPARISON_SWAPS: dict[type, list[type]] = {
    ast.Lt: [ast.LtE, ast.GtE], ast.LtE: [ast.Lt, ast.Gt], ast.Gt: [ast.GtE, ast.LtE], ast.GtE: [ast.Gt, ast.Lt],
    ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.In: [ast.NotIn], ast.NotIn: [ast.In], ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
}  # fmt: skip
BINARY_SWAPS: dict[type, type] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult}


@dataclass(frozen=True)
class Mutant:
    path: str
    index: int  # the index-th mutation site of the file, in a fixed walk order
    line: int
    change: str


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """Nodes not worth mutating: docstrings, imports, annotations, error texts and logging."""
    skipped: set[int] = set()

    def skip(node: ast.AST) -> None:
        skipped.update(id(child) for child in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip(body[0])
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Raise | ast.JoinedStr | ast.Assert):
            skip(node)
        for field in ("annotation", "returns"):
            if getattr(node, field, None) is not None:
                skip(getattr(node, field))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("warn", "log_message"):
            skip(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "fail"):
            skip(node)
    return skipped


Mutation = tuple[str, Callable[[ast.AST], None]]


def _mutations(node: ast.AST, parent: ast.AST | None) -> Iterator[Mutation]:
    if isinstance(node, ast.Compare):
        for position, operator in enumerate(node.ops):
            for replacement in COMPARISON_SWAPS.get(type(operator), []):

                def swap(n: ast.AST, p: int = position, r: type = replacement) -> None:
                    n.ops[p] = r()  # type: ignore[attr-defined]

                yield f"{type(operator).__name__} -> {replacement.__name__}", swap
    elif isinstance(node, ast.BoolOp):

        def flip(n: ast.AST) -> None:
            n.op = ast.Or() if isinstance(n.op, ast.And) else ast.And()  # type: ignore[attr-defined]

        yield ("and -> or" if isinstance(node.op, ast.And) else "or -> and"), flip
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not x -> x", lambda n: _become(n, n.operand)  # type: ignore[attr-defined]
    elif isinstance(node, ast.BinOp) and type(node.op) in BINARY_SWAPS:

        def arithmetic(n: ast.AST) -> None:
            n.op = BINARY_SWAPS[type(n.op)]()  # type: ignore[attr-defined]

        yield f"{type(node.op).__name__} -> {BINARY_SWAPS[type(node.op)].__name__}", arithmetic
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield f"{value} -> {not value}", lambda n: setattr(n, "value", not n.value)  # type: ignore[attr-defined]
        elif isinstance(value, int):
            yield f"{value} -> {value + 1}", lambda n: setattr(n, "value", n.value + 1)  # type: ignore[attr-defined]
        elif isinstance(value, str) and value and not isinstance(parent, ast.Dict | ast.Subscript | ast.keyword):
            yield f"{value[:30]!r} -> ''", lambda n: setattr(n, "value", "")
    if isinstance(node, ast.If | ast.While | ast.IfExp):
        yield "condition -> not condition", lambda n: setattr(n, "test", ast.UnaryOp(op=ast.Not(), operand=n.test))  # type: ignore[attr-defined]
    if isinstance(node, ast.Dict) and len(node.keys) > 1:
        for position, key in enumerate(node.keys):
            label = ast.unparse(key)[:30] if key is not None else "**"

            def drop_entry(n: ast.AST, p: int = position) -> None:
                del n.keys[p], n.values[p]  # type: ignore[attr-defined]

            yield f"dict entry {label} removed", drop_entry
    loaded = isinstance(node, ast.Set) or isinstance(getattr(node, "ctx", None), ast.Load)
    if isinstance(node, ast.List | ast.Set | ast.Tuple) and loaded and len(node.elts) > 1:
        for position, element in enumerate(node.elts):
            if isinstance(element, ast.Constant):

                def drop_element(n: ast.AST, p: int = position) -> None:
                    del n.elts[p]  # type: ignore[attr-defined]

                yield f"element {ast.unparse(element)[:30]} removed", drop_element
    if isinstance(node, ast.Call):
        for position, keyword in enumerate(node.keywords):
            if keyword.arg is not None:

                def drop_keyword(n: ast.AST, p: int = position) -> None:
                    del n.keywords[p]  # type: ignore[attr-defined]

                yield f"keyword {keyword.arg}= removed", drop_keyword
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield "call statement removed", lambda n: _become(n, ast.Pass())
    returns_none = isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and node.value.value is None
    if isinstance(node, ast.Return) and node.value is not None and not returns_none:
        yield "return value -> None", lambda n: setattr(n, "value", ast.Constant(value=None))


def _become(node: ast.AST, other: ast.AST) -> None:
    """Turn node into other in place (the walk holds the node, not its parent)."""
    other = copy.deepcopy(other)
    node.__class__ = other.__class__
    node.__dict__.clear()
    node.__dict__.update(other.__dict__)


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, Mutation]]:
    skipped = _skipped_nodes(tree)
    parents = {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(tree):
        if id(node) not in skipped:
            for mutation in _mutations(node, parents.get(id(node))):
                yield node, mutation


_SOURCES: dict[str, str] = {}  # as they were when the run started: edits made meanwhile change nothing


def _source(path: str) -> str:
    return _SOURCES.setdefault(path, (REPO / path).read_text())


def mutants_of(path: str) -> list[Mutant]:
    tree = ast.parse(_source(path))
    return [Mutant(path, i, getattr(node, "lineno", 0), change) for i, (node, (change, _)) in enumerate(_sites(tree))]


def mutated_source(mutant: Mutant) -> str:
    tree = ast.parse(_source(mutant.path))
    for index, (node, (_, apply)) in enumerate(_sites(tree)):
        if index == mutant.index:
            apply(node)
            return ast.unparse(ast.fix_missing_locations(tree))
    raise IndexError(mutant)


def killed(mutant: Mutant, workspace: Path) -> bool:
    """Whether the file's tests fail (or hang) with the mutant in place."""
    target = workspace / mutant.path
    original = _source(mutant.path)
    try:
        target.write_text(mutated_source(mutant))
        environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MUTATION_RUN": "1"}
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *FILES.get(mutant.path, [UNIT])]
        try:
            result = subprocess.run(command, cwd=workspace, env=environment, capture_output=True, timeout=MUTANT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return True
        return result.returncode != 0
    finally:
        target.write_text(original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", default=list(FILES), help="files to mutate (default: all in FILES)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once, each in its own copy (default 2)")
    args = parser.parse_args()
    mutants = [mutant for path in args.files for mutant in mutants_of(path)]
    print(f"{len(mutants)} mutants in {len(args.files)} files, {args.jobs} at once", flush=True)
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        workspaces = [Path(scratch) / f"copy{n}" for n in range(args.jobs)]
        for workspace in workspaces:
            shutil.copytree(REPO, workspace, ignore=COPY_IGNORE)
        free = list(workspaces)
        started = time.monotonic()

        done: list[Mutant] = []

        def run(mutant: Mutant) -> tuple[Mutant, bool]:
            workspace = free.pop()
            try:
                was_killed = killed(mutant, workspace)
                if not was_killed:  # as found, so a long run shows its survivors early
                    print(f"  survived {mutant.path}:{mutant.line}: {mutant.change}", flush=True)
                return mutant, was_killed
            finally:
                free.append(workspace)
                done.append(mutant)
                if len(done) % 50 == 0:
                    print(f"  {len(done)}/{len(mutants)} after {time.monotonic() - started:.0f}s", flush=True)

        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(run, mutants))
    print(f"done in {time.monotonic() - started:.0f}s")
    for path in args.files:
        of_file = [(m, k) for m, k in results if m.path == path]
        survivors = [m for m, k in of_file if not k]
        score = 100 * (len(of_file) - len(survivors)) / len(of_file) if of_file else 100.0
        print(f"\n{path}: {len(of_file) - len(survivors)}/{len(of_file)} killed ({score:.1f} %)")
        for mutant in survivors:
            print(f"  survived {mutant.path}:{mutant.line}: {mutant.change}")


if __name__ == "__main__":
    main()
