"""The library's structure: imports run one way, and no module reaches into another's insides.

Both are read from the source (Python's ``ast``), so they hold for code that never runs in a test.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "transformer_lib"
MODULES = {  # "transformer_lib.data.spans" -> its file
    ".".join(("transformer_lib", *path.relative_to(PACKAGE).with_suffix("").parts))
    .removesuffix(".__init__"): path
    for path in sorted(PACKAGE.rglob("*.py"))
}


def imported_modules(name: str) -> set[str]:
    """The transformer_lib modules that module ``name`` imports, anywhere in its file."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            # "from transformer_lib import attention" imports a module; "from x import name" its x
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                       for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: imported_modules(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A list of modules that import each other in a circle, or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt, path + [nxt])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_inside_transformer_lib():
    assert "transformer_lib.checkpoint" in GRAPH["transformer_lib.training"]  # the scan works
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def private_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """``obj._name`` where obj is not ``self``, ``cls`` or ``super()`` (dunders are fine)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") and node.attr.endswith("__"):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "super":
            continue
        found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_private_use_finder_finds_one():
    tree = ast.parse("x = model._cache\ny = self._ok\nz = torch.__version__\nw = super()._f()")
    assert private_uses(tree) == [(1, "model._cache")]


# PyTorch's own underscore names that the library uses on purpose.
ALLOWED = {"torch._C"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_reads_another_modules_private_attributes(name):
    uses = [(line, text) for line, text in private_uses(ast.parse(MODULES[name].read_text()))
            if text not in ALLOWED]
    assert not uses, f"{name} reaches into private attributes: {uses}"
