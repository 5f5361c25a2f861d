"""The code's shape, counted with `ast`: each asset's body lines (docstring excluded; the goal is
at most 40), the 10 largest functions, and the import graph between the domain packages and
modules (the Dagster shell left out), with any cycle named.

    python benchmarks/code_shape.py [REPO]
"""

import ast
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1]) / "reer_pipeline"


def body_lines(fn):
    body = fn.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


funcs, assets = [], []
for path in sorted(root.rglob("*.py")):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            funcs.append((n, f"{path.relative_to(root.parent)}:{node.name}"))
            decos = [ast.unparse(d) for d in node.decorator_list]
            if any(d.split("(")[0].split(".")[-1] in ("asset", "multi_asset") for d in decos):
                assets.append((body_lines(node), f"{path.relative_to(root.parent)}:{node.name}"))
print("== asset bodies (lines)")
for n, name in sorted(assets, reverse=True):
    print(f"{n:4d} {name}")
print("== 10 largest functions")
for n, name in sorted(funcs, reverse=True)[:10]:
    print(f"{n:4d} {name}")

# domain import graph between top-level subpackages/modules
SHELL = {
    "assets",
    "resources",
    "sensors",
    "schedules",
    "definitions",
    "jobs",
    "executors",
    "cli",
    "serve",
}


def unit(mod):
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


edges = {}
for path in sorted(root.rglob("*.py")):
    rel = path.relative_to(root.parent).with_suffix("")
    me = unit(".".join(rel.parts))
    if me == "__init__":
        continue
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "reer_pipeline":
            imported = [alias.name for alias in node.names]  # from reer_pipeline import text
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reer_pipeline"):
            imported = [unit(node.module)]
        elif isinstance(node, ast.Import):
            imported = [unit(a.name) for a in node.names if a.name.startswith("reer_pipeline.")]
        else:
            continue
        edges.setdefault(me, set()).update(u for u in imported if u != me)
print("== domain import graph (shell excluded)")
for me in sorted(edges):
    if me in SHELL:
        continue
    print(f"{me:12s} -> {', '.join(sorted(e for e in edges[me]))}")
# cycle check
graph = {k: {e for e in v if e not in SHELL} for k, v in edges.items() if k not in SHELL}


def cycles():
    found = []
    state = {}

    def dfs(n, stack):
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, ()):
            if state.get(m) == 1:
                found.append(stack[stack.index(m) :] + [m])
            elif not state.get(m):
                dfs(m, stack)
        stack.pop()
        state[n] = 2

    for n in graph:
        if not state.get(n):
            dfs(n, [])
    return found


cs = cycles()
print("cycles:", cs if cs else "none")
