"""The package's import graph: no import circles, and no import against the data flow.

Every import statement counts, the ones inside functions too: a lazy import that closes a circle
is still a circle a reader has to untangle.  Not counted: imports under ``if TYPE_CHECKING:``
(annotations only, never run) and the registry's ``importlib.import_module`` strings (how the
built-in components get listed).
"""

import ast
from pathlib import Path

import orlvlmf

PACKAGE_DIR = Path(orlvlmf.__file__).parent

#: Subpackages from the bottom up: a module may import its own layer and the ones below it.
LAYERS = (
    ("registry", "_compat"),
    ("config",),
    ("pipeline",),
    ("env",),
    ("data",),
    ("encoders",),
    ("feedback",),
    ("reward",),
    ("policy",),
    ("evaluation",),
    ("report",),
    ("sweep",),
    ("cli", "export", "orlvlmf"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def modules(package_dir: Path) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package."""
    out = {}
    for path in package_dir.rglob("*.py"):
        parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module → the package's modules it imports (anywhere in its body)."""
    mods = modules(package_dir)

    def resolve(name: str) -> str | None:  # the longest prefix that is a module of the package
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking_block(block)
                       for stmt in block.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, up level - 1
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [resolve(f"{base}.{a.name}") for a in node.names]
            else:
                continue
            graph[mod] |= {t for t in targets if t is not None and t != mod}
    return graph


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (as a path a -> ... -> a) per strongly connected component with a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_circle_in(graph, component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _circle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    paths = {start: [start]}
    todo = [start]
    while todo:  # breadth-first back to start, inside the component
        v = todo.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                todo.append(w)
    raise AssertionError("a strongly connected component without a circle")


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


SCHEMA = "orlvlmf.config.schema"
LEAF = "orlvlmf.config.structured"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a higher layer.

    One exception: the run-config schema composes the section dataclasses that live beside their
    code (``reward/config.py``, ...), so it may import those ``config`` modules, which in turn may
    import nothing of the package but :mod:`orlvlmf.config.structured`.
    """
    bad = []
    for mod, targets in sorted(graph.items()):
        for t in sorted(targets):
            if RANK[layer(t)] <= RANK[layer(mod)]:
                continue
            if mod == SCHEMA and t.endswith(".config") and graph[t] <= {LEAF}:
                continue
            bad.append(f"{mod} -> {t}")
    return bad


def test_every_subpackage_has_a_layer():
    assert {layer(m) for m in modules(PACKAGE_DIR)} <= set(RANK)


def test_no_import_circles():
    found = cycles(import_graph(PACKAGE_DIR))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_upward_imports():
    bad = upward_imports(import_graph(PACKAGE_DIR))
    assert not bad, "imports against the layers (bottom up: " + " < ".join(
        "/".join(names) for names in LAYERS) + "):\n" + "\n".join(bad)


def test_the_checks_find_a_circle_and_an_upward_import(tmp_path):
    root = tmp_path / "orlvlmf"
    for sub, text in {"__init__.py": "", "pipeline/__init__.py": "", "policy/__init__.py": "",
                      "pipeline/a.py": "def f():\n    from orlvlmf.pipeline import b\n",
                      "pipeline/b.py": "from orlvlmf.pipeline.a import f\n"
                                       "if TYPE_CHECKING:\n    from orlvlmf.policy import c\n",
                      "policy/c.py": "", "pipeline/d.py": "from orlvlmf.policy import c\n",
                      "config/__init__.py": "", "config/structured.py": "",
                      "policy/config.py": "from orlvlmf.config.structured import x\n",
                      "config/schema.py": "from orlvlmf.policy.config import A\nfrom orlvlmf.policy import c\n"}.items():
        (root / sub).parent.mkdir(parents=True, exist_ok=True)
        (root / sub).write_text(text)
    graph = import_graph(root)
    assert cycles(graph) == [["orlvlmf.pipeline.a", "orlvlmf.pipeline.b", "orlvlmf.pipeline.a"]]
    assert upward_imports(graph) == ["orlvlmf.config.schema -> orlvlmf.policy.c",  # not a section config
                                     "orlvlmf.pipeline.d -> orlvlmf.policy.c"]
