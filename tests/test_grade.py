"""python -m helpers.grade on a fake checkout built in tmp_path from the fixture notebooks.

tests/fixtures/01_records_metric.ipynb records answer + 1 and where `helpers` came from,
02_fails_at_cell.ipynb divides by zero in cell 4, 03_sleeps.ipynb sleeps in cell 3.
"""
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from grading import notebooks as grade
from helpers.checkpoint import ROOT

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fake_repo(tmp_path: Path, *notebooks: str, with_helpers: bool = False) -> Path:
    """tmp_path/repo with the named fixture notebooks in notebooks/ and, optionally, a helpers/
    package of its own (an empty __init__ and a copy of helpers/notebook.py)."""
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    for name in notebooks:
        shutil.copy(FIXTURES / name, repo / "notebooks" / name)
    if with_helpers:
        (repo / "helpers").mkdir()
        (repo / "helpers" / "__init__.py").write_text('"""a student\'s helpers"""\n')
        shutil.copy(ROOT / "helpers" / "notebook.py", repo / "helpers" / "notebook.py")
    return repo


def entries(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    return {e["notebook"]: e for e in summary["notebooks"]}


# command line ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("2", 2), ("-3", -3), ("0.5", 0.5), ("1e-3", 1e-3), ("2E+2", 200.0), ("True", True),
    ("true", True), ("False", False), ("None", None), ("[1, 2]", [1, 2]), ("ddim", "ddim"),
    ("{a: 1}", {"a": 1}), ("", ""), ("a: b: c", "a: b: c")])
def test_parameter_values_are_read_like_papermill(text, value):
    assert grade.parse_value(text) == value
    assert type(grade.parse_value(text)) is type(value)


def test_quick_and_parameters_reach_the_parameter_dict():
    args = grade.parse_args(["-p", "epochs", "2", "-p", "lr", "3e-4", "--quick"])
    assert args.parameters == {"epochs": 2, "lr": 3e-4, "quick": True}
    assert grade.parse_args([]).parameters == {}


def test_help_explains_ours_and_theirs(capsys):
    with pytest.raises(SystemExit) as e:
        grade.parse_args(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for word in ("--helpers", "ours", "theirs", "PYTHONPATH", "--timeout", "--quick", "-p NAME VALUE"):
        assert word in text


def test_bad_timeout_is_refused():
    with pytest.raises(SystemExit):
        grade.parse_args(["--timeout", "0"])


def test_no_notebooks_or_no_helpers_is_a_usage_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "notebooks").mkdir(parents=True)
    assert grade.main(["--repo", str(empty), "--out", str(tmp_path / "o1")]) == 2
    assert "no notebooks" in capsys.readouterr().err
    repo = fake_repo(tmp_path, "02_fails_at_cell.ipynb")
    assert grade.main(["--repo", str(repo), "--helpers", "theirs", "--out", str(tmp_path / "o2")]) == 2
    assert "has no helpers/ package" in capsys.readouterr().err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_error_position_skips_cells_papermill_inserts():
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {"tags": ["papermill-error-cell-tag"]}, "source": "x"},
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "a = 1", "outputs": []},
        {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": "a = 2",
         "outputs": []},
        {"cell_type": "code", "metadata": {"tags": ["raises-exception"]}, "source": "1/0",
         "outputs": [{"output_type": "error", "ename": "ZeroDivisionError", "evalue": "expected"}]},
        {"cell_type": "code", "metadata": {}, "source": "\nboom()", "execution_count": 3,
         "outputs": [{"output_type": "error", "ename": "NameError", "evalue": "boom"}]}]}
    assert grade.first_error(nb) == {"cell": 3, "execution_count": 3, "ename": "NameError",
                                     "evalue": "boom", "source": "boom()"}


# whole runs -----------------------------------------------------------------------------------

def test_grades_in_order_continues_past_a_failure_and_exports_html(tmp_path):
    repo = fake_repo(tmp_path, "02_fails_at_cell.ipynb", "01_records_metric.ipynb")
    out = tmp_path / "out"
    code = grade.main(["--repo", str(repo), "--out", str(out), "-p", "answer", "1", "--quick",
                       "--timeout", "600"])
    assert code == 1, "a failing notebook must make the exit code non-zero"
    summary = json.loads((out / "summary.json").read_text())
    assert [e["notebook"] for e in summary["notebooks"]] == ["01_records_metric", "02_fails_at_cell"]
    assert (summary["passed"], summary["failed"]) == (1, 1)
    assert summary["helpers_path"] == str((ROOT / "helpers").resolve())

    ok, failed = entries(out).values()
    assert ok["status"] == "ok" and ok["error"] is None and ok["runtime_s"] > 0
    assert ok["metrics"] == {"answer": 2, "quick": True,
                             "helpers_dir": str((ROOT / "helpers").resolve())}
    assert failed["status"] == "failed"
    assert {k: failed["error"][k] for k in ("cell", "ename", "evalue", "source")} == {
        "cell": 4, "ename": "ZeroDivisionError", "evalue": "division by zero",
        "source": "y = x / divisor"}
    assert any("answer" in w for w in failed["warnings"]), "an unknown -p name should be flagged"

    for e in (ok, failed):
        executed = json.loads((out / e["executed"]).read_text())
        assert executed["metadata"]["papermill"]["parameters"]["answer"] == 1
        html = (out / e["html"]).read_text()
        assert "<html" in html and e["notebook"] in html
        assert (out / e["log"]).is_file()
    figure = re.compile(r'<img[^>]+src="data:image/png;base64,')
    assert figure.search((out / ok["html"]).read_text()), "the figure should be embedded in the HTML"
    assert not figure.search((out / failed["html"]).read_text())

    md = (out / "summary.md").read_text()
    assert "failed at cell 4" in md and "ZeroDivisionError: division by zero" in md
    assert re.search(r"\| `answer` \| 2 \|", md)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_a_notebook_past_its_timeout_is_stopped_with_its_kernel(tmp_path):
    repo = fake_repo(tmp_path, "03_sleeps.ipynb")
    out, pid_file, timeout = tmp_path / "out", tmp_path / "kernel.pid", 20
    start = time.monotonic()
    code = grade.main(["--repo", str(repo), "--out", str(out), "--timeout", str(timeout),
                       "-p", "pid_file", str(pid_file)])
    assert code == 1
    assert time.monotonic() - start < timeout + 120
    e = entries(out)["03_sleeps"]
    assert e["status"] == "timed_out" and e["metrics"] == {}
    assert timeout <= e["runtime_s"] < timeout + 30
    assert "timed out after 20 s" in (out / "summary.md").read_text()
    if pid_file.exists():  # the kernel got as far as the sleeping cell (it may not on a busy CPU)
        assert e["error"]["cell"] == 3
        kernel = int(pid_file.read_text())
        deadline = time.monotonic() + 20
        while _alive(kernel) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _alive(kernel), "the timed-out notebook's kernel is still running"


def test_theirs_imports_the_graded_checkouts_helpers(tmp_path):
    repo = fake_repo(tmp_path, "01_records_metric.ipynb", with_helpers=True)
    out = tmp_path / "out"
    assert grade.main(["--repo", str(repo), "--out", str(out), "--helpers", "theirs",
                       "--timeout", "600"]) == 0
    theirs = str((repo / "helpers").resolve())
    assert json.loads((out / "summary.json").read_text())["helpers_path"] == theirs
    e = entries(out)["01_records_metric"]
    assert e["status"] == "ok" and e["metrics"]["helpers_dir"] == theirs
    assert e["metrics"]["answer"] == 42
