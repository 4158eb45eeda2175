"""No import cycles between the modules of ``viewer`` and ``gan`` (lazy imports inside
functions count too): e.g. ``viewer.io.series`` never imports its readers, which import it, and
``viewer.cli.localize`` / ``localize_run`` share ``UsageError`` through ``gan.cli.common``."""
from __future__ import annotations

import sys

import pytest

grimp = pytest.importorskip("grimp")


def _cycles(adj: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in adj[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10000))
    try:
        for m in sorted(adj):
            if m not in index:
                visit(m)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_import_cycles():
    graph = grimp.build_graph("viewer", "gan", cache_dir=None)
    mods = set(graph.modules)
    adj = {m: set(graph.find_modules_directly_imported_by(m)) & mods for m in mods}
    assert _cycles(adj) == []
