"""The package's shape, checked on its source with `ast`: no module imports a private name (`_x`) from
another module of the package, the package's imports have no cycles, no file is over MAX_FILE_LINES lines
unless its first line says why (`# size: <reason>`), and no function is over MAX_FUNCTION_LINES lines
outside the named kernels in LONG_FUNCTIONS. Each rule is also run on a small package written here that
breaks it, so a checker that stops finding anything fails."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sfmed_trainer"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80
LONG_FILE_HEADER = "# size:"
# "module:qualified.name" → why it stays one function.
LONG_FUNCTIONS: dict[str, str] = {}


@dataclass
class Module:
    name: str  # dotted, e.g. "sfmed_trainer.optim.update"
    path: Path
    tree: ast.Module
    lines: list[str]
    is_package: bool


def read_package(root: Path) -> dict[str, Module]:
    """Every .py file under `root` (a package folder) by dotted module name."""
    mods: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        text = path.read_text(encoding="utf-8")
        name = ".".join(parts)
        mods[name] = Module(name, path, ast.parse(text, filename=str(path)), text.splitlines(), is_package)
    return mods


def resolve(mod: Module, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative levels resolved against `mod`)."""
    if node.level == 0:
        return node.module or ""
    base = mod.name.split(".")
    if not mod.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(mod: Module, mods: dict[str, Module]) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import of a package module anywhere in `mod`
    (function-level imports included: they still close a cycle when they run)."""
    out = []
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name in mods]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(mod, node)
            if target not in mods:
                continue
            names = []
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in mods:  # `from pkg import submodule`
                    out.append((sub, [], node.lineno))
                else:
                    names.append(a.name)
            if names:
                out.append((target, names, node.lineno))
    return out


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(mods: dict[str, Module]) -> list[str]:
    """`from other_module import _x`, and `alias._x` where alias names another package module."""
    bad = []
    for mod in mods.values():
        aliases = {}
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ImportFrom) and resolve(mod, node) in mods:
                target = resolve(mod, node)
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if sub in mods:
                        aliases[a.asname or a.name] = sub
                    elif is_private(a.name) and target != mod.name:
                        bad.append(f"{mod.path.name}:{node.lineno}: imports {a.name} from {target}")
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in mods and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(mod.tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and aliases[node.value.id] != mod.name
                and is_private(node.attr)
            ):
                bad.append(f"{mod.path.name}:{node.lineno}: uses {node.attr} of {aliases[node.value.id]}")
    return bad


def import_cycles(mods: dict[str, Module]) -> list[list[str]]:
    """Every strongly connected component of more than one module (or a module importing itself)."""
    graph = {m: sorted({t for t, _, _ in imported_modules(mods[m], mods)}) for m in mods}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
            if len(comp) > 1 or v in graph[v]:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def long_files(mods: dict[str, Module], limit: int = MAX_FILE_LINES) -> list[str]:
    bad = []
    for mod in mods.values():
        head = mod.lines[0] if mod.lines else ""
        reason = head[len(LONG_FILE_HEADER) :].strip() if head.startswith(LONG_FILE_HEADER) else ""
        if len(mod.lines) > limit and not reason:
            bad.append(f"{mod.path.name}: {len(mod.lines)} lines and no `{LONG_FILE_HEADER} <reason>` first line")
    return bad


def long_functions(mods: dict[str, Module], limit: int = MAX_FUNCTION_LINES, allowed=None) -> list[str]:
    allowed = LONG_FUNCTIONS if allowed is None else allowed
    bad = []

    def walk(node, mod: Module, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    n = child.end_lineno - child.lineno + 1
                    if n > limit and f"{mod.name}:{qual}" not in allowed:
                        bad.append(f"{mod.name}:{qual}: {n} lines")
                walk(child, mod, qual + ".")
            else:
                walk(child, mod, prefix)

    for mod in mods.values():
        walk(mod.tree, mod, "")
    return bad


# ----------------------------------------------------------------------------------------- the package


@pytest.fixture(scope="module")
def package() -> dict[str, Module]:
    mods = read_package(PACKAGE)
    assert "sfmed_trainer.trainer" in mods and "sfmed_trainer.optim.update" in mods
    return mods


def test_no_module_imports_a_private_name_from_another(package):
    assert private_imports(package) == []


def test_the_package_imports_have_no_cycles(package):
    assert import_cycles(package) == []


def test_no_file_is_over_the_limit_without_a_reason(package):
    assert long_files(package) == []


def test_no_function_is_over_the_limit_outside_the_named_kernels(package):
    assert long_functions(package) == []
    for key, why in LONG_FUNCTIONS.items():
        mod, _, qual = key.partition(":")
        assert mod in package and why.strip(), key


def test_the_stage_recipes_and_the_optimizer_modules_exist(package):
    for m in ("pt", "sft", "rm", "dpo"):
        assert f"sfmed_trainer.stages.{m}" in package
    for m in ("update", "sparse", "sharded", "optimizer", "tau"):
        assert f"sfmed_trainer.optim.{m}" in package
    # the server loads models from model_io and imports nothing of the training loop
    engine = {t for t, _, _ in imported_modules(package["sfmed_trainer.server.engine"], package)}
    assert "sfmed_trainer.model_io" in engine
    training = {"sfmed_trainer.trainer", "sfmed_trainer.loop", "sfmed_trainer.stages"}
    for name in [m for m in package if m == "sfmed_trainer.serve" or m.startswith("sfmed_trainer.server")]:
        assert not training & {t for t, _, _ in imported_modules(package[name], package)}, name


def called_names(mod: Module) -> set[str]:
    return {
        n.func.id if isinstance(n.func, ast.Name) else n.func.attr
        for n in ast.walk(mod.tree)
        if isinstance(n, ast.Call) and isinstance(n.func, (ast.Name, ast.Attribute))
    }


def test_both_merge_optimizers_take_the_per_tensor_path_from_one_function(package):
    """OnlineMergeAdamW and ZeRO-3's ZeroMergeAdamW decide each tensor's update in update.update_tensor_ and
    call none of the paths themselves (the decision is written once)."""
    paths = {"merge_update_", "ondare_sparse_update_", "onties_sparse_update_", "bernoulli_indices"}
    for name in ("sfmed_trainer.optim.optimizer", "sfmed_trainer.ds_merge"):
        calls = called_names(package[name])
        assert "update_tensor_" in calls and not calls & paths, (name, sorted(calls & paths))
    # the two DPO engines share the checkpoint code: the TRL engine no longer imports the built-in loop
    trl = {t for t, _, _ in imported_modules(package["sfmed_trainer.trl_dpo"], package)}
    assert "sfmed_trainer.checkpoint" in trl and not trl & {"sfmed_trainer.loop", "sfmed_trainer.stages.dpo"}


# ----------------------------------------------------------------------------------------- the checkers fail


def write_package(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return read_package(root)


def test_a_private_import_is_found(tmp_path):
    mods = write_package(
        tmp_path,
        {
            "a.py": "def _helper():\n    return 1\n",
            "b.py": "from .a import _helper\n",
            "c.py": "from . import a as A\n\nx = A._helper()\n",
            "d.py": "from .a import __doc__\n\n\ndef _own():\n    return _own\n",
            "sub/__init__.py": "",
            "sub/e.py": "from ..a import _helper as h\n",
        },
    )
    found = private_imports(mods)
    assert len(found) == 3, found
    assert any("b.py" in f for f in found) and any("c.py" in f for f in found) and any("e.py" in f for f in found)


def test_an_import_cycle_is_found_even_through_a_function_level_import(tmp_path):
    mods = write_package(
        tmp_path,
        {
            "a.py": "from .b import x\n",
            "b.py": "x = 1\n\n\ndef f():\n    from .c import y\n\n    return y\n",
            "c.py": "from . import a\n\ny = 2\n",
            "d.py": "from .a import x\n",
        },
    )
    assert import_cycles(mods) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_a_long_file_needs_a_reason_and_a_long_function_is_found(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(85))
    mods = write_package(
        tmp_path,
        {
            "long.py": "x = 1\n" * 401,
            "reasoned.py": "# size: one table\n" + "x = 1\n" * 401,
            "empty_reason.py": "# size:\n" + "x = 1\n" * 401,
            "fn.py": f"class K:\n    def big(self):\n{body}\n        return 0\n\n\ndef small():\n    return 1\n".replace(
                "\n    x", "\n        x"
            ),
        },
    )
    assert sorted(s.split(":")[0] for s in long_files(mods)) == ["empty_reason.py", "long.py"]
    assert [s.split(":")[1] for s in long_functions(mods, allowed={})] == ["K.big"]
    assert long_functions(mods, allowed={"pkg.fn:K.big": "a kernel"}) == []
