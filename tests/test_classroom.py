"""Grading a class (python -m helpers.grade --submissions): the gradebook, feedback, manual grading,
and hostile or broken submissions that change nothing (tests/fixtures/classroom.py)."""
import csv
import json
import subprocess
import sys
import zipfile

import pytest

from grading import manual, sandbox
from grading.answers import load_questions
from grading.release import load_rubric, release, solution_lines
from grading.submission import (SubmissionError, compare_metrics, grade_submission, model_points, read_submitted,
                                unpack)
from helpers.checkpoint import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from fixtures.classroom import make_class  # noqa: E402

ISOLATED = sandbox.available()[0]
NEEDS_SANDBOX = pytest.mark.skipif(not ISOLATED, reason=f"the grader's sandbox is off here: {sandbox.available()[1]}")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A class of 15 graded in quick mode on notebook 01, two at a time."""
    base = tmp_path_factory.mktemp("class")
    release(base / "edition")
    canary, out = base / "canary.txt", base / "out"
    canary.write_text("still here")
    made = make_class(base / "edition", base / "submissions", canary, out)
    run = subprocess.run([sys.executable, "-m", "helpers.grade", "--submissions", str(base / "submissions"),
                          "--out", str(out), "--quick", "--only", "01", "--jobs", "2", "--timeout", "120",
                          "--memory-gb", "8", "--samples-per-digit", "10"],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    grades = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/grade.json")}
    with open(out / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    return {"run": run, "out": out, "made": made, "grades": grades, "rows": {r["submission"]: r for r in rows},
            "canary": canary}


@pytest.mark.slow
def test_every_submission_gets_a_row_and_the_first_row_holds_the_maxima(graded):
    assert graded["run"].returncode == 0, graded["run"].stderr[-2000:]
    rows = graded["rows"]
    assert set(rows) == set(graded["made"]) | {"(maximum)"}
    top = rows["(maximum)"]
    assert float(top["auto_max"]) == 17 and float(top["manual_max"]) == 20 and float(top["total"]) == 37
    assert list(rows)[0] == "(maximum)"


@pytest.mark.slow
def test_points_are_what_each_submission_earned(graded):
    auto = {name: float(r["auto_points"]) for name, r in graded["rows"].items() if name != "(maximum)"}
    assert auto.pop("finished") == 14 and auto.pop("zipped") == 14      # no notebook 03 run: no model points
    assert auto.pop("partial") == 1                                      # time_embedding; add_noise wrong
    assert auto == {name: 0 for name in auto}, auto
    partial = {t["id"]: t for t in graded["grades"]["partial"]["tasks"]}
    assert partial["add_noise"]["status"] == "failed" and "square roots" in partial["add_noise"]["message"]
    assert graded["rows"]["empty"]["status"] == "invalid" and "no helpers/ folder" in graded["rows"]["empty"]["notes"]
    assert "timed out" in graded["rows"]["infinite_loop"]["notes"] and "MemoryError" in graded["rows"]["memory_hog"]["notes"]
    assert "no helpers/ folder" in graded["grades"]["empty"]["message"]


@pytest.mark.slow
def test_unfinished_tasks_run_on_the_reference_and_the_feedback_says_so(graded):
    untouched, finished = graded["grades"]["untouched"], graded["grades"]["finished"]
    assert len(untouched["filled_from_reference"]) == 8 and finished["filled_from_reference"] == []
    assert [nb["status"] for nb in untouched["notebooks"]] == ["ok"]
    feedback = (graded["out"] / "untouched" / "feedback.html").read_text()
    assert "add_noise" in feedback and "reference" in feedback and "not attempted" in feedback
    results = json.loads((graded["out"] / "untouched" / "results.json").read_text())
    assert results["score"] == 0 and {t["name"] for t in results["tests"]} >= {"add_noise", "model_quality"}


@pytest.mark.slow
def test_hostile_notebooks_fail_alone(graded):
    status = {name: g["notebooks"][0].get("description", "") if g["notebooks"] else ""
              for name, g in graded["grades"].items()}
    assert status["infinite_loop"].startswith("timed out after 120 s")
    assert "MemoryError" in status["memory_hog"]
    assert "DeadKernelError" in status["os_exit"]
    assert status["sys_exit"]                                            # IPython catches it: the notebook goes on
    assert all(status[name] == "ok" for name in ("finished", "untouched", "faker", "allclose_patch")), status
    assert any("not valid notebook JSON" in f for f in graded["grades"]["bad_json"]["flags"])
    faker = json.loads((graded["out"] / "faker" / "results.json").read_text())
    assert faker["score"] == 0 and graded["rows"]["faker"]["auto_points"] == "0.0"


@pytest.mark.slow
@NEEDS_SANDBOX
def test_a_vandal_changes_nothing_outside_its_own_copy(graded):
    assert graded["canary"].read_text() == "still here"
    for name, g in graded["grades"].items():
        assert (graded["out"] / name / "grade.json").read_text().startswith("{"), name
    assert graded["grades"]["finished"]["notebooks"][0]["status"] == "ok"


@pytest.mark.slow
@NEEDS_SANDBOX
def test_reading_or_calling_the_reference_earns_nothing(graded):
    for name in ("snoop", "caller", "allclose_patch"):
        tasks = {t["id"]: t for t in graded["grades"][name]["tasks"]}
        assert tasks["add_noise"]["points"] == 0, (name, tasks["add_noise"])


@pytest.mark.slow
def test_no_feedback_shows_the_reference_solution(graded):
    lines = solution_lines()
    for name in graded["made"]:
        if name in ("finished", "zipped"):                              # their own code is the reference's
            continue
        for path in (graded["out"] / name).rglob("*"):
            if path.is_file() and path.suffix in (".html", ".ipynb", ".json"):
                text = path.read_text(errors="replace")
                assert not [line for line in lines if line in text], path


def fill_and_merge(out, rows):
    """Write the scores sheet as a teacher would, then run --merge-manual."""
    with open(out / manual.SHEET, "w", newline="") as f:
        writer = csv.DictWriter(f, manual.FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return subprocess.run([sys.executable, "-m", "helpers.grade", "--merge-manual", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_manual_pages_scores_and_their_merge(graded):
    out = graded["out"]
    page = (out / "manual" / "forward.html").read_text()
    assert "one call cannot bring the digit back" in page and "Model answer with this student" in page
    with open(out / manual.SHEET) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(graded["made"]) * len(load_questions())
    blank = next(r for r in rows if r["submission"] == "untouched" and r["question"] == "forward")
    assert blank["points"] == "0" and blank["comment"] == "no answer"
    mine = next(r for r in rows if r["submission"] == "finished" and r["question"] == "forward")
    mine["points"] = "2"
    merge = fill_and_merge(out, rows)
    assert merge.returncode == 0, merge.stderr
    with open(out / "grades.csv") as f:
        finished = next(r for r in csv.DictReader(f) if r["submission"] == "finished")
    assert float(finished["manual_points"]) == 2 and float(finished["total"]) == 16
    mine["points"] = "7"                                                 # more than the question's 2 points
    bad = fill_and_merge(out, rows)
    assert bad.returncode == 2 and "finished, forward" in bad.stderr and "0..2" in bad.stderr


@pytest.mark.slow
def test_the_summary_names_the_sandbox_and_the_failures(graded):
    text = (graded["out"] / "summary.md").read_text()
    assert "Sandbox:" in text and "| `add_noise` |" in text and "infinite_loop" in text


@pytest.mark.slow
def test_the_untouched_student_edition_runs_every_notebook_to_the_end(tmp_path):
    """Every task a stub: each is reported "not attempted" by name, and all seven notebooks still run
    in quick mode, on the reference's code for those tasks."""
    release(tmp_path / "edition")
    grade = grade_submission(tmp_path / "edition", tmp_path / "out", quick=True, timeout=900, samples_per_digit=10)
    assert grade["status"] == "graded", grade["message"]
    assert [nb["status"] for nb in grade["notebooks"]] == ["ok"] * 7, [nb.get("description") for nb in grade["notebooks"]]
    assert sorted(grade["filled_from_reference"]) == sorted(load_rubric())
    assert all(t["status"] == "not attempted" and "still the stub" in t["message"] for t in grade["tasks"])
    assert grade["auto_points"] == (grade["model"] or {}).get("points", 0)   # only what its trained model earns
    lines = solution_lines()
    for path in (tmp_path / "out").rglob("*.html"):
        assert not [line for line in lines if line in path.read_text(errors="replace")], path


# the pieces, without running a class ---------------------------------------------------------

def test_model_points_scale_between_floor_and_target():
    item = {"points": 3, "floor": 0.5, "target": 0.9}
    assert [model_points(lo, item) for lo in (0.3, 0.5, 0.7, 0.9, 0.99)] == [0, 0, 1.5, 3, 3]


@pytest.mark.slow
def test_the_model_item_reads_samples_and_names_a_missing_broken_or_copied_checkpoint(tmp_path):
    from grading.release import load_model_item
    from grading.submission import judge_model
    item = {**load_model_item(), "samples_per_digit": 3}
    shipped = judge_model(ROOT / "data" / "ddpm_mnist.pt", item)
    assert shipped["n"] == 30 and shipped["copies_shipped_model"] and shipped["grid_png"][:4] == b"\x89PNG"
    assert shipped["interval"][0] <= shipped["accuracy"] <= shipped["interval"][1]
    assert judge_model(tmp_path / "none.pt", item)["status"] == "missing"
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert "cannot be judged" in judge_model(tmp_path / "junk.pt", item)["message"]


def test_stale_outputs_are_metrics_that_moved_beyond_tolerance():
    stored = {"acc": 0.99, "loss": [0.1, 0.2], "name": "x", "same": 3}
    assert compare_metrics(stored, {"acc": 0.5, "loss": [0.1, 0.2], "name": "y", "same": 3.01}) == ["acc"]
    assert compare_metrics(stored, {"loss": [0.1]}) == ["loss"]


def test_unpack_refuses_archives_that_escape_and_folders_without_the_course(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../outside.txt", "x")
    with pytest.raises(SubmissionError, match="outside the archive"):
        unpack(evil, tmp_path / "w1")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(SubmissionError, match="no helpers/ folder"):
        unpack(tmp_path / "nothing", tmp_path / "w2")
    (tmp_path / "junk.zip").write_text("not a zip")
    with pytest.raises(SubmissionError, match="not a valid zip"):
        unpack(tmp_path / "junk.zip", tmp_path / "w3")


def test_submissions_are_folders_and_zips_with_distinct_names(tmp_path):
    from grading.classroom import discover
    for name in ("ann", "bob", ".hidden"):
        (tmp_path / name).mkdir()
    for name in ("ann.zip", "cid.zip", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert {k: v.name for k, v in discover(tmp_path).items()} == {
        "ann": "ann", "bob": "bob", "ann-zip": "ann.zip", "cid": "cid.zip"}


def test_a_broken_notebook_file_is_named(tmp_path):
    (tmp_path / "01_x.ipynb").write_text("{oops")
    nb, problem = read_submitted(tmp_path / "01_x.ipynb")
    assert nb is None and "01_x.ipynb is not valid notebook JSON" in problem


def test_answers_render_as_markdown_without_their_html():
    assert manual.render("**x_T** has std 1 <script>alert(1)</script>") == \
        "<p><strong>x_T</strong> has std 1 &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"


def test_bad_manual_scores_are_named_by_row(tmp_path):
    (tmp_path / "manual").mkdir()
    (tmp_path / manual.SHEET).write_text("submission,question,points,max_points,comment\n"
                                         "ann,forward,1.5,2,\nbob,nope,1,2,\ncid,skips,,2,\n")
    assert manual.read_scores(tmp_path) == {"ann": {"forward": 1.5}}
    with pytest.raises(ValueError, match=r"scores.csv:3: bob, nope"):
        manual.read_scores(tmp_path, strict=True)
