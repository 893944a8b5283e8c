"""Grade one student's submission: `python -m grading.submission SUBMISSION --out DIR [--quick]`.

The single command a batch engine calls per submission (helpers.grade --submissions calls it once per
student, in parallel, under limits). SUBMISSION is a copy of the student edition, completed or not: a
folder or a .zip. It is unpacked into a fresh temporary folder and graded there:
1. the tasks' hidden checks (grading.tasks) against the student's own `helpers`;
2. the stubs still unfinished are filled with the reference's code (release.complete), so the
   notebooks built on them still run, and the feedback says which;
3. the notebooks, executed with papermill on that `helpers`, with the course's data/;
4. the model trained in notebook 03, judged on a fixed, seeded set of samples by the course classifier
   (the rubric's `model:` item: points from the 95% Wilson interval);
5. the written answers, read for manual grading; the submitted notebooks' recorded metrics compared
   with the re-execution's.
DIR always receives grade.json (everything), results.json (Gradescope's format) and feedback.html,
whatever the submission does. Nothing the submission prints is read.
"""
import argparse
import html
import json
import math
import os
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

import torch

from helpers.checkpoint import DATA_DIR, ROOT
from helpers.notebook import read_metrics
from helpers.verdicts import wilson_interval

from . import sandbox
from .answers import answers_of, load_questions
from .notebooks import NOTEBOOK_GLOB, describe, export_html, grade_notebook, kernel_env, resolved_helpers
from .release import complete, load_model_item, load_rubric, solution_lines
from .tasks import grade_tasks

MAX_UNPACKED = 2 * 2 ** 30          # bytes a .zip may expand to
MAX_CHECKPOINT = 200 * 2 ** 20      # bytes of a student's model checkpoint the grader will load
KERNEL_START_RACES = ("Address already in use", "Kernel didn't respond", "Kernel died before replying")
WITHHELD = "[output withheld by the grader: it shows the reference's solution code]"


class SubmissionError(ValueError):
    """A submission that cannot be graded at all (no course in it, a broken archive)."""


# unpacking ------------------------------------------------------------------------------------

def _unzip(archive: Path, dest: Path):
    """Extract a .zip with no member outside dest, no links and at most MAX_UNPACKED bytes."""
    try:
        with zipfile.ZipFile(archive) as z:
            members = z.infolist()
            if sum(m.file_size for m in members) > MAX_UNPACKED:
                raise SubmissionError(f"{archive.name} expands to over {MAX_UNPACKED / 2 ** 30:g} GB")
            for m in members:
                target = (dest / m.filename).resolve()
                if dest.resolve() not in target.parents and target != dest.resolve():
                    raise SubmissionError(f"{archive.name}: the member {m.filename!r} points outside the archive")
                if (m.external_attr >> 16) & 0o170000 == 0o120000:
                    continue                                           # a symbolic link: not extracted
                z.extract(m, dest)
    except zipfile.BadZipFile as e:
        raise SubmissionError(f"{archive.name} is not a valid zip file ({e})") from e


def unpack(submission: Path, work: Path) -> Path:
    """Copy a submission (folder or .zip) into work; returns the course folder inside it (the one
    with helpers/). Symbolic links are not copied. SubmissionError names what is wrong."""
    if submission.is_file() and submission.suffix == ".zip":
        _unzip(submission, work / "course")
    elif submission.is_dir():
        shutil.copytree(submission, work / "course", ignore=lambda d, names: [
            n for n in names if os.path.islink(os.path.join(d, n))])
    else:
        raise SubmissionError(f"{submission.name} is neither a folder nor a .zip")
    candidates = [work / "course"] + sorted(p.parent for p in (work / "course").glob("*/helpers"))
    for root in candidates:
        if (root / "helpers").is_dir():
            return root
    raise SubmissionError(f"{submission.name} holds no helpers/ folder: is it a copy of the student edition?")


def provide_data(root: Path, reference: Path = ROOT):
    """The course's own data/ (MNIST, the shipped checkpoints) replaces whatever the submission has."""
    shutil.rmtree(root / "data", ignore_errors=True)
    shutil.copytree(reference / "data", root / "data", ignore=shutil.ignore_patterns("__pycache__"))


def read_submitted(path: Path) -> tuple:
    """(notebook dict or None, problem or None) for a submitted notebook file."""
    try:
        nb = json.loads(path.read_text())
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            return None, f"{path.name} is not a notebook (no list of cells)"
        return nb, None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"{path.name} is not valid notebook JSON ({type(e).__name__}: {e})"


# the model ------------------------------------------------------------------------------------

def model_points(lo: float, item: dict) -> float:
    """Points for a Wilson lower bound lo: 0 at or below floor, all at or above target, linear between."""
    share = (lo - item["floor"]) / (item["target"] - item["floor"])
    return round(item["points"] * min(1.0, max(0.0, share)), 2)


def judge_model(checkpoint: Path, item: dict, seed: int = 0) -> dict:
    """Sample samples_per_digit of each digit from the student's checkpoint (fixed seed, the
    reference's code, weights_only) and read them with the course classifier."""
    from helpers.classifier import load_classifier, predict
    from helpers.pipeline import load_pipeline
    from helpers.plots import grid_png
    if not checkpoint.is_file():
        return {"status": "missing", "points": 0.0, "message": f"no trained model at {checkpoint.name}: "
                "notebook 03 did not finish its training"}
    if checkpoint.stat().st_size > MAX_CHECKPOINT:
        return {"status": "error", "points": 0.0, "message": f"the checkpoint is over {MAX_CHECKPOINT >> 20} MB"}
    try:
        pipe = load_pipeline(checkpoint, device="cpu")
        shipped = load_pipeline(DATA_DIR / "ddpm_mnist.pt", device="cpu").model.state_dict()
        same = pipe.model.state_dict().keys() == shipped.keys() and all(
            torch.equal(v, shipped[k]) for k, v in pipe.model.state_dict().items())
        labels = torch.arange(10).repeat_interleave(item["samples_per_digit"])
        images = pipe.sample(labels, steps=item["steps"], generator=torch.Generator().manual_seed(seed))
        right = (predict(load_classifier(device="cpu"), images)[0].argmax(1) == labels)
    except Exception as e:                                             # a broken or foreign file
        return {"status": "error", "points": 0.0, "message": f"the checkpoint cannot be judged: {type(e).__name__}: {e}"}
    k, n = int(right.sum()), len(labels)
    lo, hi = wilson_interval(k, n)
    points = model_points(lo, item)
    per_digit = right.view(10, -1).float().mean(1).tolist()
    status = "passed" if lo >= item["target"] else "partial" if points > 0 else "failed"
    message = (f"{k} of {n} samples read as their digit ({k / n:.1%}; 95% interval {lo:.1%}-{hi:.1%}); "
               f"points scale from an interval starting at {item['floor']:.0%} to one starting at {item['target']:.0%}")
    return {"status": status, "points": points, "accuracy": k / n, "interval": [lo, hi], "n": n,
            "per_digit": per_digit, "message": message, "copies_shipped_model": same,
            "grid_png": grid_png(images.view(10, -1, *images.shape[1:])[:, :8].reshape(-1, *images.shape[1:]), nrow=8,
                                 title="your model: digits 0-9, a row each")}


# stored outputs -------------------------------------------------------------------------------

def compare_metrics(stored: dict, rerun: dict, rtol: float = 0.1, atol: float = 0.02) -> list:
    """Names of numeric metrics whose stored value differs from the re-execution's beyond tolerance."""
    def numbers(v):
        if isinstance(v, bool) or v is None:
            return []
        if isinstance(v, (int, float)):
            return [float(v)]
        if isinstance(v, list):
            return [x for item in v for x in numbers(item)]
        if isinstance(v, dict):
            return [x for key in sorted(v) for x in numbers(v[key])]
        return []
    out = []
    for name in sorted(set(stored) & set(rerun)):
        a, b = numbers(stored[name]), numbers(rerun[name])
        if len(a) != len(b) or any(abs(x - y) > atol + rtol * abs(y) for x, y in zip(a, b) if math.isfinite(y)):
            out.append(name)
    return out


def redact(executed: Path, lines: set) -> int:
    """Replace every output of an executed notebook that shows a line of the reference's solutions
    (the stubs filled in for the run) by a notice; returns how many were withheld."""
    nb, n = json.loads(executed.read_text()), 0
    for cell in nb.get("cells", []):
        for i, o in enumerate(cell.get("outputs", [])):
            text = json.dumps(o)
            if any(json.dumps(line)[1:-1] in text for line in lines):
                cell["outputs"][i] = {"output_type": "stream", "name": "stdout", "text": [WITHHELD]}
                n += 1
    if n:
        executed.write_text(json.dumps(nb, indent=1, ensure_ascii=False))
    return n


# the whole submission -------------------------------------------------------------------------

def grade_submission(submission: Path, out: Path, quick: bool = False, timeout: float = 1800,
                     only=None, samples_per_digit: "int | None" = None, kernel: str = "python3",
                     reference: Path = ROOT, name: "str | None" = None) -> dict:
    """Grade one submission into out/ (see the module docstring); returns grade.json's content."""
    submission, out = Path(submission), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rubric, questions, item = load_rubric(reference), load_questions(reference), dict(load_model_item(reference))
    if samples_per_digit:
        item["samples_per_digit"] = samples_per_digit
    grade = {"submission": name or submission.name.removesuffix(".zip"), "status": "graded", "message": "",
             "quick": quick, "tasks": [], "filled_from_reference": [], "notebooks": [], "model": None,
             "answers": {q: "" for q in questions}, "flags": [], "seconds": None}
    start, work = time.monotonic(), Path(tempfile.mkdtemp(prefix="submission-"))
    try:
        root = unpack(submission, work)
        submitted = {p.name: read_submitted(p) for p in sorted((root / "notebooks").glob(NOTEBOOK_GLOB))}
        for name, (nb, problem) in submitted.items():
            if problem:
                grade["flags"].append(problem)
            else:
                grade["answers"].update({q: a for q, a in answers_of(nb).items() if q in questions})
        provide_data(root, reference)
        grade["tasks"] = [asdict(r) for r in grade_tasks(root, root=reference)]
        unfinished = [t["id"] for t in grade["tasks"] if t["status"] == "not attempted"]
        grade["filled_from_reference"] = complete(root, unfinished, reference)
        run_notebooks(root, out, grade, submitted, quick, timeout, only, kernel, reference)
        if any(e["notebook"].startswith(item["notebook"]) for e in grade["notebooks"]):
            grade["model"] = judge_model(out / "run03" / "03_training.pt", item)
            if grade["model"].get("copies_shipped_model"):
                grade["model"].update(points=0.0, status="failed")
                grade["flags"].append("the notebook 03 model is the shipped checkpoint, not one trained by the notebook")
    except SubmissionError as e:
        grade.update(status="invalid", message=str(e))
    except Exception as e:                                             # the grader's own failure: say so
        grade.update(status="grader error", message=f"{type(e).__name__}: {e}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        grade["seconds"] = round(time.monotonic() - start, 1)
        write_reports(out, grade, rubric, item)
    return grade


def run_notebooks(root: Path, out: Path, grade: dict, submitted: dict, quick: bool, timeout: float, only,
                  kernel: str, reference: Path):
    """Execute the submission's notebooks in order on its own helpers (stubs filled in)."""
    cwd, env, scratch = root / "notebooks", kernel_env(root, quick), root.parent
    for var, sub in (("HOME", "home"), ("TMPDIR", "tmp"), ("JUPYTER_RUNTIME_DIR", "runtime"), ("MPLCONFIGDIR", "mpl")):
        env[var] = str(scratch / sub)
        Path(env[var]).mkdir(exist_ok=True)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    isolated = sandbox.available()[0] and reference.resolve() not in root.resolve().parents
    wrap = (lambda cmd: sandbox.wrap(cmd, writable=[scratch, out], hide=[reference])) if isolated else None
    grade["sandbox"] = "on" if isolated else f"off: {sandbox.available()[1]}"
    if resolved_helpers(env, cwd) != (root / "helpers").resolve():
        raise SubmissionError("its helpers/ is not an importable package (helpers/__init__.py is missing)")
    lines = solution_lines(reference) if grade["filled_from_reference"] else set()
    (out / "notebooks" / "logs").mkdir(parents=True, exist_ok=True)
    for src in sorted(reference.glob(f"notebooks/{NOTEBOOK_GLOB}")):
        if only and not any(src.name.startswith(p) for p in only):
            continue
        mine, (nb, problem) = cwd / src.name, submitted.get(src.name, (None, f"{src.name} is missing"))
        if nb is None:
            grade["notebooks"].append({"notebook": src.stem, "status": "failed", "error": {"message": problem},
                                       "runtime_s": 0, "metrics": {}, "html": None})
            continue
        params = {"quick": quick, **({"run_dir": str(out / "run03")} if src.name.startswith("03") else {})}
        entry = grade_notebook(mine, out / "notebooks", params, cwd, env, kernel, timeout, wrap)
        if entry["status"] == "failed" and any(p in json.dumps(entry["error"]) for p in KERNEL_START_RACES):
            entry = grade_notebook(mine, out / "notebooks", params, cwd, env, kernel, timeout, wrap)
            entry["warnings"].append("the kernel failed to start once (a port taken by another kernel) and was restarted")
        if entry["executed"] and redact(out / "notebooks" / entry["executed"], lines):
            entry["warnings"].append("outputs that showed the reference's code were withheld")
            export_html(out / "notebooks" / entry["executed"], out / "notebooks" / entry["html"])
        stale = compare_metrics(read_metrics(nb), entry["metrics"]) if not quick and entry["status"] == "ok" else []
        if stale:
            grade["flags"].append(f"{src.stem}: the submitted outputs differ from the re-execution in {stale[:5]}")
        entry["description"] = describe(entry)
        grade["notebooks"].append(entry)


# reports --------------------------------------------------------------------------------------

def auto_items(grade: dict, rubric: dict, item: dict) -> list:
    """(id, points, max, status, message) for every autograded item, in rubric order."""
    tasks = {t["id"]: t for t in grade["tasks"]}
    rows = [(tid, tasks[tid]["points"], tasks[tid]["max_points"], tasks[tid]["status"], tasks[tid]["message"])
            if tid in tasks else (tid, 0.0, float(t["points"]), "not graded", grade["message"] or "not graded")
            for tid, t in rubric.items()]
    model = grade["model"] or {"points": 0.0, "status": "not graded",
                               "message": grade["message"] or "notebook 03 was not run"}
    return rows + [(item["id"], model["points"], float(item["points"]), model["status"], model["message"])]


def write_reports(out: Path, grade: dict, rubric: dict, item: dict):
    rows = auto_items(grade, rubric, item)
    grade["auto_points"], grade["auto_max"] = sum(r[1] for r in rows), sum(r[2] for r in rows)
    grid = (grade["model"] or {}).pop("grid_png", None)
    (out / "grade.json").write_text(json.dumps(grade, indent=1))
    results = {"score": grade["auto_points"], "execution_time": grade["seconds"],
               "output": f"{grade['status']}. {grade['message']}".strip(),
               "tests": [{"name": rid, "score": pts, "max_score": mx, "status": "passed" if pts >= mx else "failed",
                          "visibility": "visible", "output": f"{status}: {msg}"} for rid, pts, mx, status, msg in rows]}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "feedback.html").write_text(feedback_html(grade, rows, grid), encoding="utf-8")


def feedback_html(grade: dict, rows: list, grid: "bytes | None") -> str:
    e = html.escape
    filled = ", ".join(grade["filled_from_reference"]) or "none"
    parts = [f"<h1>Feedback: {e(grade['submission'])}</h1>",
             f"<p>Status: <b>{e(grade['status'])}</b> {e(grade['message'])}. Autograded points: "
             f"<b>{grade['auto_points']:g} / {grade['auto_max']:g}</b>; the written answers are graded by hand.</p>",
             "<h2>Tasks</h2><table border=1 cellpadding=4><tr><th>item</th><th>points</th><th>status</th><th>message</th></tr>",
             *(f"<tr><td>{e(r)}</td><td>{p:g} / {m:g}</td><td>{e(s)}</td><td>{e(msg)}</td></tr>" for r, p, m, s, msg in rows),
             "</table>",
             f"<p>Unfinished tasks run on the reference's code so that the notebooks after them still ran: {e(filled)}.</p>"]
    if grid:
        import base64
        parts.append("<h2>Your model's samples (digits 0-9, one row each)</h2>"
                     f"<img src='data:image/png;base64,{base64.b64encode(grid).decode()}'>")
    parts.append("<h2>Notebooks</h2><ul>")
    for nb in grade["notebooks"]:
        link = f" (<a href='notebooks/{e(nb['html'])}'>executed notebook</a>)" if nb.get("html") else ""
        parts.append(f"<li>{e(nb['notebook'])}: {e(nb.get('description') or nb['status'])}{link}</li>")
    parts.append("</ul>")
    if grade["flags"]:
        parts += ["<h2>Flagged for the teacher</h2><ul>", *(f"<li>{e(f)}</li>" for f in grade["flags"]), "</ul>"]
    return "<!doctype html><meta charset='utf-8'><title>Feedback</title>" + "\n".join(parts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grading.submission", description=__doc__.split("\n")[0])
    p.add_argument("submission", type=Path, help="a student's folder or .zip")
    p.add_argument("--out", type=Path, required=True, help="where grade.json, results.json and feedback.html go")
    p.add_argument("--quick", action="store_true", help="run the notebooks in quick mode")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per notebook (default %(default)s)")
    p.add_argument("--only", nargs="+", metavar="PREFIX", help="just these notebooks (e.g. 01 03)")
    p.add_argument("--samples-per-digit", type=int, help="the model item's samples per digit (default: the rubric's)")
    p.add_argument("--name", help="the submission's name in the gradebook (default: the folder's or zip's)")
    args = p.parse_args(argv)
    grade = grade_submission(args.submission, args.out, args.quick, args.timeout, args.only, args.samples_per_digit,
                             name=args.name)
    print(f"{grade['submission']}: {grade['status']}, {grade['auto_points']:g}/{grade['auto_max']:g} points")
    return 0 if grade["status"] in ("graded", "invalid") else 1


if __name__ == "__main__":
    sys.exit(main())
