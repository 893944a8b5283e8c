"""The library's shape: one home per concept, no import cycles, figures only in plots/widgets, every
module documented in the README, and the teacher's grading tools outside the students' package."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = {p.stem: p for p in (ROOT / "helpers").glob("*.py") if p.stem not in ("__init__",)}
ENTRY_POINTS = ("grade", "assign")          # the teacher's commands: thin entry points into grading/


def imports(path: Path) -> set:
    """The helpers modules `path` imports (relative `from .x import` or `helpers.x`), anywhere in the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                out.add(node.module.split(".")[0])
            elif node.module and node.module.startswith("helpers."):
                out.add(node.module.split(".")[1])
    return out & set(MODULES)


def test_the_module_graph_has_no_cycles():
    graph = {m: imports(p) for m, p in MODULES.items()}
    done, active = set(), []

    def visit(m):
        assert m not in active, f"import cycle: {' -> '.join(active[active.index(m):] + [m])}"
        if m in done:
            return
        active.append(m)
        for n in graph[m]:
            visit(n)
        active.pop()
        done.add(m)

    for m in graph:
        visit(m)


def test_only_the_figure_modules_import_matplotlib():
    users = {m for m, p in MODULES.items() if re.search(r"^\s*(import|from) matplotlib", p.read_text(), re.M)}
    assert users <= {"plots", "widgets"}, f"figures outside plots/widgets: {sorted(users - {'plots', 'widgets'})}"


def test_every_module_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    missing = [m for m in MODULES if m not in ENTRY_POINTS and f"`helpers.{m}`" not in readme]
    assert not missing, f"README's module table lacks {missing}"


def test_students_package_does_not_import_the_grader():
    offenders = [m for m, p in MODULES.items() if m not in ENTRY_POINTS and re.search(r"\bgrading\b", p.read_text())
                 and re.search(r"^\s*(import|from) grading", p.read_text(), re.M)]
    assert not offenders, f"helpers modules importing grading: {offenders}"
