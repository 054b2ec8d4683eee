"""The codebase's shape as tests (developer guide; issue #11): each rule fails naming its offenders.

* No import cycle among the modules of ``appliance`` and ``export``. Imports inside functions count,
  and so do ``if TYPE_CHECKING:`` imports (grimp's defaults): a cycle that only type checkers see is still
  a cycle in the design, and the data path must read in one direction.
* ``appliance/`` never imports ``export``, ``torch``, ``transformers`` or ``optimum``, in any module, at
  any depth of the source (the runtime tests in ``test_rules.py``, ``test_export_mt.py`` and
  ``test_reliability_offline.py`` check what is *loaded* on given code paths; this checks every import
  statement of every module, including those on paths no test runs).
* No module in ``appliance/`` over ``MAX_LINES`` lines (the guide's "~400").
* Every public module, class, function and method of ``appliance/`` and ``export/`` has a docstring,
  checked by ruff's pydocstyle rules D100-D104 and D106. "Public" is pydocstyle's definition: a name
  not starting with ``_``, in a module whose path has no ``_``-prefixed part, and listed in ``__all__``
  where the module defines one; nested functions are not public. ``__init__`` (D107) and other magic
  methods (D105) are left out: the class docstring describes construction, and a magic method's
  meaning is Python's. ``# noqa`` comments are ignored, so there is no way to allow-list an offender.
* Tests live in ``tests/runtime/`` (the appliance) or ``tests/export/`` (the workstation side), helpers in
  ``tests/support/``; nothing under ``tests/`` edits ``sys.path`` (``tests`` is a package and pytest's
  ``pythonpath`` puts the repository root first, so helpers are imported as ``tests.support.*``).

The import graph comes from grimp (static analysis: nothing is imported), the docstring check from ruff;
both are in the ``test`` extra.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import deque
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("appliance", "export")
RUNTIME = "appliance"
FORBIDDEN_FOR_RUNTIME = ("export", "torch", "transformers", "optimum")
MAX_LINES = 400
DOCSTRING_RULES = "D100,D101,D102,D103,D104,D106"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    g = grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)
    import appliance
    import export

    for pkg in (appliance, export):  # the graph must describe this checkout, not an installed copy
        assert Path(pkg.__file__).resolve().parents[1] == ROOT, f"{pkg.__name__} imported from {pkg.__file__}"
    return g


def _internal(g: grimp.ImportGraph) -> list[str]:
    return sorted(m for m in g.modules if m.split(".")[0] in PACKAGES)


def _edge(g: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = g.get_import_details(importer=importer, imported=imported)
    lines = ", ".join(str(d["line_number"]) for d in details)
    return f"{importer} -> {imported} (line {lines})" if lines else f"{importer} -> {imported}"


def _strongly_connected(nodes: list[str], succ: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module, or one that imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ[w])))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1 or v in succ[v]:
                        out.append(sorted(comp))
    return out


def _one_cycle(start: str, members: set[str], succ: dict[str, list[str]]) -> list[str]:
    """The shortest import path from ``start`` back to ``start`` inside one component."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in succ[v]:
            if w not in members:
                continue
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return path[::-1] + [start]
            if w not in parent:
                parent[w] = v
                queue.append(w)
    raise AssertionError("not a cycle")  # pragma: no cover


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    nodes = _internal(graph)
    inside = set(nodes)
    succ = {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i in inside) for m in nodes}
    problems = []
    for comp in _strongly_connected(nodes, succ):
        cycle = _one_cycle(comp[0], set(comp), succ)
        edges = "; ".join(_edge(graph, a, b) for a, b in itertools.pairwise(cycle))
        problems.append(f"cycle among {', '.join(comp)}: e.g. {edges}")
    assert not problems, "import cycles:\n" + "\n".join(sorted(problems))


def test_cycle_finder_finds_cycles() -> None:
    succ = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["e"]}
    comps = _strongly_connected(sorted(succ), succ)
    assert comps == [["a", "b", "c"], ["e"]]
    assert _one_cycle("a", {"a", "b", "c"}, succ) == ["a", "b", "c", "a"]
    assert _one_cycle("e", {"e"}, succ) == ["e", "e"]


def test_runtime_never_imports_export_or_ml_frameworks(graph: grimp.ImportGraph) -> None:
    offenders = []
    for m in _internal(graph):
        if m.split(".")[0] != RUNTIME:
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(m)):
            if imported.split(".")[0] in FORBIDDEN_FOR_RUNTIME:
                offenders.append(_edge(graph, m, imported))
    assert not offenders, "appliance/ imports what only export/ may use:\n" + "\n".join(offenders)


def test_runtime_modules_stay_small() -> None:
    sizes = {
        p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in sorted((ROOT / RUNTIME).rglob("*.py"))
    }
    assert sizes, "no modules found"
    over = [f"{path}: {n} lines" for path, n in sizes.items() if n > MAX_LINES]
    assert not over, f"modules over {MAX_LINES} lines (split them by concern):\n" + "\n".join(over)


def test_public_definitions_have_docstrings() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--ignore-noqa",
         "--select", DOCSTRING_RULES, "--output-format", "concise", *PACKAGES],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    offenders = [line for line in proc.stdout.splitlines() if ": D1" in line]
    assert not offenders, f"{len(offenders)} public definitions without a docstring:\n" + "\n".join(offenders)
    assert proc.returncode == 0, f"ruff failed to run:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"


def test_tests_are_split_and_import_helpers_without_path_edits() -> None:
    tests = ROOT / "tests"
    misplaced = sorted(str(p.relative_to(ROOT)) for p in tests.rglob("test_*.py")
                       if p.parent.name not in ("runtime", "export") and p.name != "test_architecture.py")
    assert not misplaced, f"tests outside tests/runtime and tests/export: {misplaced}"
    edits = sorted(f"{p.relative_to(ROOT)}:{n}" for p in tests.rglob("*.py")
                   for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                   if "sys.path." in line and p != Path(__file__).resolve())
    assert not edits, f"sys.path edits in tests: {edits}"
