"""The student edition (python -m helpers.assign) and the hidden checks of its tasks (grading.tasks)."""
import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from grading.release import (ANSWER_STUB, ReleaseError, complete, edition_files, fill_stubs, load_rubric, release,
                             solution_lines, strip_notebook, strip_source)
from grading.release import solution_regions as regions_of
from grading.tasks import grade_tasks, run_tasks
from helpers.checkpoint import ROOT

RUBRIC = load_rubric()
SEED = 11


def solution_regions(root=ROOT) -> dict:
    """{task: (file, [the region's lines])} of the instructor's edition."""
    return {task: (rel, lines) for rel in edition_files(root) if rel.endswith(".py")
            for task, lines in regions_of((root / rel).read_text()).items()}


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "student"
    done = release(out)
    return out, done


def test_every_task_has_one_region_and_the_release_stubs_them_all(edition):
    out, done = edition
    assert set(done["stubs"]) == set(RUBRIC) == set(solution_regions())
    assert len(done["notebooks"]) == 7


def test_no_solution_line_remains_in_the_student_edition(edition):
    out, _ = edition
    solution = solution_lines()
    assert len(solution) >= 12
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".ipynb", ".md", ".yaml", ".toml", ".txt", ".sh"):
            text = path.read_text()
            leaked = [line for line in solution if line in text]
            assert not leaked, f"{path.relative_to(out)} still holds solution lines: {leaked[:2]}"
    assert "BEGIN SOLUTION" not in (out / "helpers" / "schedule.py").read_text()


def test_the_edition_leaves_out_the_instructors_material_and_keeps_the_data(edition):
    out, _ = edition
    for gone in ("grading", "tests", "benchmarks", ".ci", "helpers/grade.py", "helpers/assign.py"):
        assert not (out / gone).exists(), gone
    readme = (out / "README.md").read_text()
    assert "## The notebooks" in readme and "bash scripts/setup.sh" in readme
    for gone in ("For teachers", "Run the tests", "python -m helpers.grade", "python -m helpers.assign", "INSTRUCTOR"):
        assert gone not in readme, gone
    for kept in ("data/ddpm_mnist.pt", "data/mnist.npz", "scripts/setup.sh", "requirements.txt"):
        assert (out / kept).read_bytes() == (ROOT / kept).read_bytes(), kept
    assert 'packages = ["helpers"]' in (out / "pyproject.toml").read_text()
    public = (out / "assignment" / "rubric.yaml").read_text()
    tasks = yaml.safe_load(public)["tasks"]
    assert [t["id"] for t in tasks] == list(RUBRIC) and not any("hidden" in t for t in tasks)
    assert not any(RUBRIC[t]["hidden"] in public for t in RUBRIC)
    for nb in (out / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        assert all(c.get("outputs", []) == [] for c in cells if c["cell_type"] == "code"), nb.name


def test_completing_every_task_gives_back_the_instructors_code(edition, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(edition[0] / "helpers", student / "helpers")
    assert sorted(complete(student, RUBRIC)) == sorted(RUBRIC)
    assert complete(student, RUBRIC) == []                                   # nothing left to fill
    for rel in {t["where"].split(",")[0] for t in RUBRIC.values()}:
        ours = [line for line in (ROOT / rel).read_text().split("\n")
                if not re.match(r"\s*# (BEGIN|END) SOLUTION", line)]
        assert (student / rel).read_text().split("\n") == ours, rel


def test_the_written_answers_are_blank_prompts_kept_and_no_model_answer_left(edition):
    from grading.answers import MODEL_HEADER, answers_of, load_questions
    out, _ = edition
    questions, seen = load_questions(), {}
    for nb in (out / "notebooks").glob("*.ipynb"):
        text = nb.read_text()
        assert MODEL_HEADER not in text and "BEGIN SOLUTION" not in text, nb.name
        seen.update(answers_of(json.loads(text)))
    assert seen == {q: ANSWER_STUB for q in questions}
    public = (out / "assignment" / "rubric.yaml").read_text()
    public = yaml.safe_load(public)["questions"]
    assert [q["id"] for q in public] == list(questions) and not any("model" in q for q in public)


def test_a_stub_raises_not_implemented_naming_its_task(edition):
    out, _ = edition
    code = ("import torch; from helpers.schedule import NoiseSchedule; s = NoiseSchedule(10)\n"
            "try:\n    s.add_noise(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), torch.tensor([3]))\n"
            "except NotImplementedError as e:\n    print('STUB', e)")
    run = subprocess.run([sys.executable, "-c", code], cwd=out, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(out)})
    assert "STUB task add_noise (notebook 01, 2 points)" in run.stdout, run.stderr[-500:]
    assert "helpers/schedule.py, NoiseSchedule.add_noise" in run.stdout


def test_release_refuses_a_folder_inside_the_course_or_one_that_is_not_empty(tmp_path):
    with pytest.raises(ReleaseError, match="inside the course"):
        release(ROOT / "runs" / "student")
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ReleaseError, match="not empty"):
        release(tmp_path)


@pytest.mark.parametrize("text,match", [
    ("a\n# BEGIN SOLUTION add_noise\nb\n", "never closed"),
    ("a\n# END SOLUTION\n", "without its BEGIN"),
    ("# BEGIN SOLUTION nope\nb\n# END SOLUTION\n", "not a task"),
    ("# BEGIN SOLUTION add_noise\n# BEGIN HIDDEN TESTS\n# END HIDDEN TESTS\n# END SOLUTION\n", "opens inside"),
])
def test_markers_that_do_not_pair_up_name_file_and_line(text, match):
    with pytest.raises(ReleaseError, match=match) as e:
        strip_source(text, RUBRIC, "helpers/x.py")
    assert re.search(r"helpers/x.py:\d+", str(e.value))


def test_strip_notebook_stubs_code_removes_hidden_checks_and_blanks_model_answers():
    cell = lambda kind, src, tags=(): {"cell_type": kind, "metadata": {"tags": list(tags)}, "source": src,
                                       **({"outputs": [{"output_type": "stream"}], "execution_count": 3}
                                          if kind == "code" else {})}
    nb = {"cells": [cell("code", "x = 1\n    # BEGIN SOLUTION loss\n    y = secret()\n    # END SOLUTION\nz = 2"),
                    cell("code", "check()\n# BEGIN HIDDEN TESTS\nassert hidden()\n# END HIDDEN TESTS\n"),
                    cell("code", "assert very_hidden()", tags=["hidden"]),
                    cell("markdown", "**Q1.** Why?\n<!-- BEGIN SOLUTION -->\nBecause 42.\n<!-- END SOLUTION -->")],
          "metadata": {}}
    cells = strip_notebook(nb, RUBRIC)["cells"]
    sources = ["".join(c["source"]) for c in cells]
    assert len(cells) == 3
    assert "secret" not in sources[0] and "z = 2" in sources[0]
    assert re.search(r"\n    raise NotImplementedError\(.task loss \(notebook 03", sources[0])
    assert sources[1] == "check()\n"
    assert "42" not in sources[2] and ANSWER_STUB in sources[2] and "**Q1.** Why?" in sources[2]
    assert cells[0]["outputs"] == [] and cells[0]["execution_count"] is None


# the hidden checks -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference():
    return run_tasks(ROOT, RUBRIC, SEED)


def points(results) -> dict:
    return {r.id: r.points for r in results}


def paste(student, task, body):
    """Replace the stub of `task` in the student edition by `body` (lines, indented as the region)."""
    path = student / RUBRIC[task]["where"].split(",")[0]
    path.write_text(fill_stubs(path.read_text(), {task: body}))


@pytest.mark.slow
def test_the_instructors_edition_gets_full_points(reference):
    results = grade_tasks(ROOT, SEED, reference=reference)
    assert all(r.status == "passed" for r in results), [(r.id, r.message) for r in results if r.status != "passed"]
    assert sum(r.points for r in results) == sum(t["points"] for t in RUBRIC.values()) > 0


@pytest.mark.slow
def test_the_untouched_student_edition_gets_no_points_and_each_task_says_so(edition, reference):
    results = grade_tasks(edition[0], SEED, reference=reference)
    assert all(r.status == "not attempted" and r.points == 0 for r in results), [(r.id, r.status) for r in results]
    assert all(RUBRIC[r.id]["where"] in r.message for r in results)


@pytest.mark.slow
def test_one_task_done_raises_exactly_its_points_and_a_wrong_one_gets_a_hint(edition, reference, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(edition[0], student)
    # the loss is built on add_noise, the embedding and the block, all still stubs: the reference's stand in
    paste(student, "loss", solution_regions()["loss"][1])
    paste(student, "add_noise", ["        ab = _gather(self.alpha_bar, t, x0)",
                                 "        return ab * x0 + (1 - ab) * noise"])          # no square roots
    results = {r.id: r for r in grade_tasks(student, SEED, reference=reference)}
    assert {k: r.points for k, r in results.items() if r.points} == {"loss": RUBRIC["loss"]["points"]}
    assert results["add_noise"].status == "failed"
    assert "square roots" in results["add_noise"].message and "variance 1" in results["add_noise"].message
    assert all(r.status == "not attempted" for k, r in results.items() if k not in ("loss", "add_noise"))


@pytest.mark.slow
def test_a_submission_that_crashes_or_has_no_helpers_gets_errors_not_a_crash(edition, reference, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(edition[0], student)
    (student / "helpers" / "unet.py").write_text("import os\nos._exit(3)\n")      # kills its process on import
    results = grade_tasks(student, SEED, reference=reference)
    assert all(r.status == "error" and r.points == 0 for r in results)
    assert "exit code 3" in results[0].message
    shutil.rmtree(student / "helpers")
    results = grade_tasks(student, SEED, reference=reference)
    assert all(r.status == "error" for r in results) and "no helpers package" in results[0].message
