"""Write the student edition of the course: `python -m helpers.assign --out DIR`.

The repository is the instructor's edition. The student edition is the same tree with
- every `# BEGIN SOLUTION <task>` ... `# END SOLUTION` region of a .py file (and of a notebook code
  cell) replaced by a stub that raises NotImplementedError naming the task (the signature and the
  docstring around the region stay);
- every `# BEGIN HIDDEN TESTS` ... `# END HIDDEN TESTS` region and every cell tagged `hidden` removed;
- markdown between `<!-- BEGIN SOLUTION -->` and `<!-- END SOLUTION -->` (model answers) replaced by
  an empty answer line, and the parts of .md files between `<!-- BEGIN INSTRUCTOR -->` and
  `<!-- END INSTRUCTOR -->` (the README's tests, grading and benchmarks) left out;
- notebook outputs and execution counts cleared;
- the instructor's material left out (INSTRUCTOR_ONLY: the grader, the tests, the benchmarks, CI),
  and the rubric without its hidden checks.
The shipped data and checkpoints are copied, so later notebooks still run.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from helpers.checkpoint import ROOT

RUBRIC = Path("assignment") / "rubric.yaml"
INSTRUCTOR_ONLY = ("grading/", "tests/", "benchmarks/", ".ci/", "helpers/grade.py", "helpers/assign.py",
                   "conftest.py")
BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION(?:\s+(\S+))?\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
HIDDEN_BEGIN = re.compile(r"^\s*# BEGIN HIDDEN TESTS\s*$")
HIDDEN_END = re.compile(r"^\s*# END HIDDEN TESTS\s*$")
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.S)
MD_INSTRUCTOR = re.compile(r"<!-- BEGIN INSTRUCTOR -->.*?<!-- END INSTRUCTOR -->\n?", re.S)   # README parts for teachers
ANSWER_STUB = "_Your answer here: quote the numbers your notebook measured._"


class ReleaseError(ValueError):
    """A marker that does not pair up, a task the rubric does not know, or an unusable output folder."""


def rubric_section(section: str, required: set, root: Path = ROOT) -> dict:
    """{id: entry} of one section of assignment/rubric.yaml ("tasks" or "questions"); ReleaseError
    when the file cannot be read or an entry lacks a required key."""
    path = Path(root) / RUBRIC
    try:
        entries = {e["id"]: e for e in yaml.safe_load(path.read_text()).get(section) or []}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as e:
        raise ReleaseError(f"{path}: cannot read the {section} ({type(e).__name__}: {e})") from e
    for e in entries.values():
        missing = required - set(e)
        if missing:
            raise ReleaseError(f"{path}: {section[:-1]} {e.get('id')!r} lacks {sorted(missing)}")
    return entries


def load_rubric(root: Path = ROOT) -> dict:
    """{task id: its entry in assignment/rubric.yaml} (id, notebook, where, points, task, hidden)."""
    return rubric_section("tasks", {"id", "notebook", "where", "points", "task"}, root)


def load_model_item(root: Path = ROOT) -> dict:
    """The rubric's `model:` item: how the model a student trains in notebook 03 is judged."""
    path = Path(root) / RUBRIC
    item = (yaml.safe_load(path.read_text()) or {}).get("model") or {}
    missing = {"id", "points", "samples_per_digit", "steps", "floor", "target"} - set(item)
    if missing or not 0 <= item.get("floor", 0) < item.get("target", 0) <= 1:
        raise ReleaseError(f"{path}: the model item needs {sorted(missing) or 'floor < target in [0, 1]'}")
    return item


def public_rubric(path: Path) -> dict:
    """The rubric as students see it: the tasks without their hidden checks, the questions without
    their model answers."""
    rubric = yaml.safe_load(Path(path).read_text())
    return {"tasks": [{k: v for k, v in t.items() if k != "hidden"} for t in rubric["tasks"]],
            "questions": [{k: v for k, v in q.items() if k not in ("model", "before")}
                          for q in rubric.get("questions", [])],
            "model": rubric.get("model")}


def solution_lines(root: Path = ROOT) -> set:
    """The lines (stripped, over 8 characters) that only the solution regions of the course hold:
    what must not appear in the student edition, nor in feedback a student receives."""
    texts = {rel: (Path(root) / rel).read_text() for rel in edition_files(root) if rel.endswith(".py")}
    rubric = load_rubric(root)
    outside = "".join(strip_source(text, rubric) for text in texts.values())
    return {line.strip() for text in texts.values() for lines in solution_regions(text).values()
            for line in lines if len(line.strip()) > 8 and line.strip() not in outside}


def stub(task: str, rubric: dict, indent: str) -> list:
    """The lines that replace a solution region: what to write, where, and an exception naming it."""
    t = rubric[task]
    message = f"task {task} (notebook {t['notebook']}, {t['points']} points): implement {t['task']} in {t['where']}"
    return [f"{indent}# YOUR CODE HERE ({task}): {t['task']}", f"{indent}raise NotImplementedError({message!r})"]


def solution_regions(text: str) -> dict:
    """{task: the lines of its solution region} in a source text (markers assumed well paired)."""
    regions, task = {}, None
    for line in text.split("\n"):
        begin = BEGIN.match(line)
        if begin:
            task = begin.group(2)
            regions[task] = []
        elif END.match(line):
            task = None
        elif task:
            regions[task].append(line)
    return regions


def fill_stubs(text: str, bodies: dict) -> str:
    """`text` with the stub of each task in `bodies` ({task: lines}) replaced by those lines: the
    inverse of the release for those tasks (a stub that is not there is left alone)."""
    out, skip = [], False
    for line in text.split("\n"):
        task = re.match(r"\s*# YOUR CODE HERE \((\S+)\):", line)
        if task and task.group(1) in bodies:
            out += bodies[task.group(1)]
            skip = True
        elif skip and line.strip().startswith("raise NotImplementedError("):
            skip = False
        else:
            out.append(line)
    return "\n".join(out)


def complete(folder: Path, tasks, root: Path = ROOT) -> list:
    """Fill the stubs of `tasks` in a student's copy (`folder`) with the reference's solutions, so
    the notebooks built on an unfinished task still run. Returns the tasks whose stub was there."""
    rubric, done = load_rubric(root), []
    for task in tasks:
        rel = rubric[task]["where"].split(",")[0]
        path = Path(folder) / rel
        text = path.read_text() if path.is_file() else ""
        if f"# YOUR CODE HERE ({task}):" in text:
            body = solution_regions((Path(root) / rel).read_text())[task]
            path.write_text(fill_stubs(text, {task: body}))
            done.append(task)
    return done


def strip_source(text: str, rubric: dict, where: str = "<source>", only=None) -> str:
    """`text` with each solution region stubbed (only those of the tasks in `only`, when given: the
    others stay as they are) and each hidden-test region removed.
    ReleaseError names the file and line of a marker that does not pair up or an unknown task."""
    out, region = [], None                      # region: (kind, task, line number) while inside one
    for n, line in enumerate(text.split("\n"), 1):
        begin = BEGIN.match(line)
        if region is None and begin and only is not None and begin.group(2) not in only:
            out.append(line)                    # a region kept: its lines and markers go out as they are
        elif region is None and begin:
            task = begin.group(2)
            if task not in rubric:
                raise ReleaseError(f"{where}:{n}: solution region {task!r} is not a task of {RUBRIC} "
                                   f"(known: {', '.join(rubric)})")
            out += stub(task, rubric, begin.group(1))
            region = ("solution", task, n)
        elif region is None and only is not None and END.match(line):
            out.append(line)
        elif region is None and HIDDEN_BEGIN.match(line):
            region = ("hidden", None, n)
        elif region is None and (END.match(line) or HIDDEN_END.match(line)):
            raise ReleaseError(f"{where}:{n}: {line.strip()!r} without its BEGIN line")
        elif region is not None and (begin or HIDDEN_BEGIN.match(line)):
            raise ReleaseError(f"{where}:{n}: a region opens inside the {region[0]} region of line {region[2]}")
        elif region is not None and (END if region[0] == "solution" else HIDDEN_END).match(line):
            region = None
        elif region is None:
            out.append(line)
    if region is not None:
        raise ReleaseError(f"{where}:{region[2]}: the {region[0]} region opened here is never closed")
    return "\n".join(out)


def strip_notebook(nb: dict, rubric: dict, where: str = "<notebook>") -> dict:
    """The student's copy of a notebook (a new dict): hidden cells gone, code regions stubbed,
    model answers blanked, no outputs."""
    cells = []
    for i, cell in enumerate(nb["cells"]):
        if "hidden" in cell.get("metadata", {}).get("tags", []):
            continue
        cell = json.loads(json.dumps(cell))
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            source = strip_source(source, rubric, f"{where}, cell {i + 1}")
            cell["outputs"], cell["execution_count"] = [], None
        elif cell["cell_type"] == "markdown":
            source = MD_SOLUTION.sub(ANSWER_STUB, source)
        cell["source"] = source.splitlines(keepends=True)
        cells.append(cell)
    return {**nb, "cells": cells}


def edition_files(root: Path = ROOT) -> list:
    """The files of the student edition: what git tracks or would track here, less INSTRUCTOR_ONLY."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    return sorted(p for p in listed if not p.startswith(INSTRUCTOR_ONLY) and (Path(root) / p).is_file())


def release(out: "str | Path", root: Path = ROOT, force: bool = False) -> dict:
    """Write the student edition of `root` to `out`. Returns {"files", "stubs": {task: file}, "notebooks"}."""
    root, out = Path(root).resolve(), Path(out).resolve()
    if out == root or root in out.parents:
        raise ReleaseError(f"--out {out} lies inside the course ({root}): choose a folder outside it")
    if out.exists() and any(out.iterdir()) and not force:
        raise ReleaseError(f"--out {out} is not empty: choose a new folder (or pass --force to overwrite)")
    rubric = load_rubric(root)
    stubs, notebooks, files = {}, [], edition_files(root)
    for rel in files:
        src, dst = root / rel, out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".py"):
            text = src.read_text()
            dst.write_text(strip_source(text, rubric, rel))          # checks the markers first
            stubs.update({task: rel for task in solution_regions(text)})
        elif rel.endswith(".ipynb"):
            nb = strip_notebook(json.loads(src.read_text()), rubric, rel)
            dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            notebooks.append(rel)
        elif rel == str(RUBRIC):
            dst.write_text("# The assignment's tasks and written answers (the student edition).\n" +
                           yaml.safe_dump(public_rubric(src), sort_keys=False, allow_unicode=True))
        elif rel.endswith(".md"):
            dst.write_text(MD_INSTRUCTOR.sub("", src.read_text()))
        elif rel == "pyproject.toml":             # the grader's package is not in this edition
            dst.write_text(re.sub(r'packages\s*=\s*\[[^\]]*\]', 'packages = ["helpers"]', src.read_text()))
        else:
            shutil.copy2(src, dst)
    missing = set(rubric) - set(stubs)
    if missing:
        raise ReleaseError(f"the rubric's tasks {sorted(missing)} have no solution region in the course")
    return {"files": len(files), "stubs": stubs, "notebooks": notebooks}
