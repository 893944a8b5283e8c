"""Grade a class: `python -m helpers.grade --submissions DIR --out OUT [--jobs N] [--quick]`.

Each subfolder (or .zip) of DIR is one student's submission. Each is graded by its own
`python -m grading.submission` process (the per-submission command a cluster engine can call
instead), `--jobs` at a time, in its own process group with a time limit and a memory limit
(RLIMIT_AS), and, where the OS allows it (root, `unshare`), in new mount and network namespaces:
no network, and every file system read-only except its own scratch folder and its own OUT/<name>/.
A submission that hangs, crashes or kills its grader still gets its row. Then:
  OUT/grades.csv                 one row per submission (the first row: each item's maximum)
  OUT/<name>/feedback.html, results.json (Gradescope), grade.json, notebooks/
  OUT/manual/<question>.html     every answer to one written question, beside the model answer
  OUT/manual/scores.csv          to fill in; `--merge-manual OUT` folds it into grades.csv
  OUT/summary.md, summary.json   totals, pass rate per item, commonest failures, flagged submissions
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from helpers.checkpoint import ROOT

from . import manual, sandbox
from .answers import load_questions
from .release import load_model_item, load_rubric
from .submission import write_reports

def discover(folder: Path) -> dict:
    """{name: path} of the submissions in folder: its subfolders and .zip files (hidden ones skipped);
    a .zip is named by its stem, or stem-zip where a folder already has that name."""
    found = sorted(p for p in Path(folder).iterdir()
                   if not p.name.startswith(".") and (p.is_dir() or p.suffix == ".zip"))
    names = {p.name: p for p in found if p.is_dir()}
    for p in found:
        if not p.is_dir():
            names[p.stem if p.stem not in names else f"{p.stem}-zip"] = p
    return names


def grade_one(name: str, sub: Path, out: Path, args, isolate: bool) -> dict:
    """Run grading.submission for one submission under its limits; returns its grade.json content
    (written by this process instead when the grader was killed, timed out or wrote nothing)."""
    outsub = out / name
    shutil.rmtree(outsub, ignore_errors=True)
    outsub.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix=f"grade-{name}-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(TMPDIR=str(work), HOME=str(work / "home"),
               JUPYTER_RUNTIME_DIR=str(work / "runtime"), MPLCONFIGDIR=str(work / "mpl"),
               PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, "-m", "grading.submission", str(sub.resolve()), "--out", str(outsub), "--name", name,
           "--timeout", str(args.timeout)] + (["--quick"] if args.quick else []) \
        + (["--only", *args.only] if args.only else []) \
        + (["--samples-per-digit", str(args.samples_per_digit)] if args.samples_per_digit else [])
    if isolate:
        cmd = sandbox.wrap(cmd, writable=[work, outsub])
    start, why = time.monotonic(), None
    with open(work / "grader.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=sandbox.limits(args.memory_gb, cpu_s=args.submission_timeout * args.threads))
        try:
            rc = proc.wait(timeout=args.submission_timeout)
            if rc not in (0, 1):
                why = f"the grader process ended with exit code {rc} (killed by the submission, or out of memory)"
        except subprocess.TimeoutExpired:
            why, rc = f"timed out: the submission took over {args.submission_timeout:g} s and was stopped", None
        finally:
            sandbox.kill_group(proc)                                  # whatever the submission left running
    try:
        grade = json.loads((outsub / "grade.json").read_text()) if why is None else None
        assert grade["submission"] == name and "auto_points" in grade
    except Exception:                                                 # nothing trustworthy was written
        why = why or "the grader wrote no readable results"
        grade = {"submission": name, "status": "timed out" if rc is None else "grader error", "message": why,
                 "tasks": [], "filled_from_reference": [], "notebooks": [], "model": None, "answers": {},
                 "flags": [why], "seconds": round(time.monotonic() - start, 1), "quick": args.quick}
        write_reports(outsub, grade, load_rubric(), load_model_item())
    shutil.rmtree(work, ignore_errors=True)
    return grade


def notes(grade: dict) -> str:
    """Why a row looks as it does: the grader's message, its flags, the notebooks that did not run."""
    parts = [grade.get("message", "")] + list(grade.get("flags", []))
    parts += [f"{nb['notebook'][:2]}: {nb.get('description') or nb['status']}" for nb in grade.get("notebooks", [])
              if nb["status"] != "ok"]
    return "; ".join(p for p in parts if p)[:500]


def item_columns(rubric: dict, item: dict) -> list:
    return [(tid, float(t["points"])) for tid, t in rubric.items()] + [(item["id"], float(item["points"]))]


def write_grades(out: Path, grades: list, scores: "dict | None" = None):
    """OUT/grades.csv: one row per submission; the first row after the header holds the maxima.
    scores: {submission: {question: points}} from manual grading (None: read OUT/manual/scores.csv)."""
    rubric, item, questions = load_rubric(), load_model_item(), load_questions()
    columns = item_columns(rubric, item)
    scores = manual.read_scores(out) if scores is None else scores
    manual_max = sum(float(q["points"]) for q in questions.values())
    header = ["submission", "status", *(c for c, _ in columns), "auto_points", "auto_max", "manual_points",
              "manual_max", "total", "percent", "notes"]
    auto_max = sum(m for _, m in columns)
    rows = [["(maximum)", "", *(m for _, m in columns), auto_max, auto_max, manual_max, manual_max,
             auto_max + manual_max, 100, ""]]
    for g in sorted(grades, key=lambda g: g["submission"]):
        got = {t["id"]: float(t["points"]) for t in g.get("tasks", [])}
        got[item["id"]] = (g.get("model") or {}).get("points", 0.0)
        auto = sum(got.get(c, 0.0) for c, _ in columns)
        by_hand = sum(scores.get(g["submission"], {}).values())
        rows.append([g["submission"], g["status"], *(got.get(c, 0.0) for c, _ in columns), auto, auto_max,
                     by_hand, manual_max, auto + by_hand, round(100 * (auto + by_hand) / (auto_max + manual_max), 1),
                     notes(g)])
    tmp = out / "grades.csv.tmp"
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    tmp.replace(out / "grades.csv")


def summary(out: Path, grades: list, isolation: "tuple[bool, str]", seconds: float, jobs: int) -> dict:
    rubric, item = load_rubric(), load_model_item()
    columns = item_columns(rubric, item)
    n = max(1, len(grades))
    rate, failures = {}, {}
    for cid, _ in columns:
        results = [next((t for t in g.get("tasks", []) if t["id"] == cid), None) if cid != item["id"] else g.get("model")
                   for g in grades]
        rate[cid] = sum(1 for r in results if r and r.get("status") == "passed") / n
        messages = [r["message"].split(":")[0] for r in results if r and r.get("status") != "passed"]
        failures[cid] = max(set(messages), key=messages.count) if messages else ""
    data = {"submissions": len(grades), "seconds": round(seconds, 1), "jobs": jobs,
            "sandbox": "no network, the reference hidden, read-only file systems outside each submission's folders"
            if isolation[0] else f"not available ({isolation[1]}): submissions ran with network and full file access",
            "pass_rate": rate, "commonest_failure": failures,
            "totals": {g["submission"]: sum(t["points"] for t in g.get("tasks", []))
                       + (g.get("model") or {}).get("points", 0.0) for g in grades},
            "flagged": {g["submission"]: g["flags"] for g in grades if g.get("flags")},
            "notebooks_failed": {g["submission"]: [f"{nb['notebook']}: {nb.get('description') or nb['status']}"
                                                   for nb in g.get("notebooks", []) if nb["status"] != "ok"]
                                 for g in grades if any(nb["status"] != "ok" for nb in g.get("notebooks", []))},
            "not_graded": {g["submission"]: g.get("message", "") for g in grades if g["status"] != "graded"}}
    (out / "summary.json").write_text(json.dumps(data, indent=1))
    lines = [f"# Grading summary: {data['submissions']} submissions in {data['seconds']:g} s ({jobs} jobs)", "",
             f"Sandbox: {data['sandbox']}.", "", "## Autograded points (histogram)", "", "```",
             *manual.histogram(list(data["totals"].values())), "```", "", "## Per rubric item", "",
             "| item | passed | commonest failure |", "|---|---|---|",
             *(f"| `{c}` | {rate[c]:.0%} | {failures[c]} |" for c, _ in columns), "",
             "## Not graded, timed out or flagged", "",
             *(f"- **{s}**: {m}" for s, m in data["not_graded"].items()),
             *(f"- **{s}**: {'; '.join(f)}" for s, f in data["flagged"].items()), "",
             "## Notebooks that failed or timed out", "",
             *(f"- **{s}**: {'; '.join(f)}" for s, f in data["notebooks_failed"].items())]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.html").write_text(summary_html(data, [c for c, _ in columns]), encoding="utf-8")
    return data


def summary_html(data: dict, items: list) -> str:
    """summary.md's content as a page with two figures: the histogram of totals, the pass rate per item."""
    import base64
    import html
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.5))
    a.hist(list(data["totals"].values()) or [0], bins=10, color="tab:blue")
    a.set(title="Autograded points per submission", xlabel="points", ylabel="submissions")
    b.barh(items[::-1], [100 * data["pass_rate"][c] for c in items[::-1]], color="tab:green")
    b.set(title="Passed, per rubric item", xlabel="% of submissions", xlim=(0, 100))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    e = html.escape
    rows = "".join(f"<tr><td>{e(c)}</td><td>{data['pass_rate'][c]:.0%}</td><td>{e(data['commonest_failure'][c])}</td></tr>"
                   for c in items)
    problems = "".join(f"<li><b>{e(s)}</b>: {e('; '.join(v) if isinstance(v, list) else v)}</li>"
                       for part in ("not_graded", "flagged", "notebooks_failed") for s, v in data[part].items())
    return ("<!doctype html><meta charset='utf-8'><title>Grading summary</title>"
            f"<h1>{data['submissions']} submissions graded in {data['seconds']:g} s ({data['jobs']} jobs)</h1>"
            f"<p>Sandbox: {e(data['sandbox'])}.</p>"
            f"<img src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}'>"
            f"<table border=1 cellpadding=4><tr><th>item</th><th>passed</th><th>commonest failure</th></tr>{rows}</table>"
            f"<h2>Not graded, flagged, or with notebooks that failed</h2><ul>{problems}</ul>")


def grade_class(args) -> int:
    subs = discover(args.submissions)
    if not subs:
        print(f"error: {args.submissions} holds no submission folders or .zip files", file=sys.stderr)
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not args.sandbox:
        os.environ["COURSE_NO_SANDBOX"] = "1"                         # the submissions' graders inherit it
    isolation = sandbox.available()
    print(f"grading {len(subs)} submissions into {out} with {args.jobs} jobs; sandbox: "
          f"{'on' if isolation[0] else 'off (' + isolation[1] + ')'}", flush=True)
    from tqdm.auto import tqdm
    start, grades = time.monotonic(), []
    with ThreadPoolExecutor(args.jobs) as pool, tqdm(total=len(subs), unit="submission") as bar:
        futures = {pool.submit(grade_one, name, s, out, args, isolation[0]): s for name, s in subs.items()}
        for f in as_completed(futures):
            grades.append(f.result())
            bar.set_postfix_str(f"{grades[-1]['submission']}: {grades[-1]['status']}")
            bar.update()
    write_grades(out, grades)
    manual.write_pages(out, grades)
    data = summary(out, grades, isolation, time.monotonic() - start, args.jobs)
    print(f"done in {data['seconds']:g} s: {out / 'grades.csv'}, {out / 'summary.md'}, {out / 'manual'}")
    return 1 if any(g["status"] == "grader error" for g in grades) else 0


def merge_manual(out: Path) -> int:
    """Fold OUT/manual/scores.csv into OUT/grades.csv (manual scores override)."""
    out = Path(out)
    grades = [json.loads(p.read_text()) for p in sorted(out.glob("*/grade.json"))]
    if not grades:
        print(f"error: {out} holds no graded submissions (*/grade.json)", file=sys.stderr)
        return 2
    try:
        scores = manual.read_scores(out, strict=True)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_grades(out, grades, scores)
    manual.write_pages(out, grades)                                   # keeps the scores entered
    print(f"merged {sum(len(v) for v in scores.values())} manual scores into {out / 'grades.csv'}")
    return 0


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m helpers.grade", description=__doc__.split("\n")[0])
    p.add_argument("--submissions", type=Path, help="a folder with one subfolder or .zip per student")
    p.add_argument("--merge-manual", type=Path, metavar="OUT", help="fold OUT/manual/scores.csv into OUT/grades.csv")
    p.add_argument("--out", type=Path, help="where the gradebook, feedback and manual pages go")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    p.add_argument("--quick", action="store_true", help="run the notebooks in quick mode")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per notebook (default %(default)s)")
    p.add_argument("--submission-timeout", type=float, default=4 * 3600, help="seconds per submission (default %(default)s)")
    p.add_argument("--memory-gb", type=float, default=8, help="address-space limit per process (default %(default)s)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per submission (default: cores / jobs)")
    p.add_argument("--only", nargs="+", metavar="PREFIX", help="just these notebooks (e.g. 01 03)")
    p.add_argument("--samples-per-digit", type=int, help="the model item's samples per digit (default: the rubric's)")
    p.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                   help="do not isolate submissions (network, read-only file system) even where possible")
    args = p.parse_args(argv)
    if args.merge_manual:
        return merge_manual(args.merge_manual)
    if not args.submissions or not args.out:
        p.error("--submissions DIR and --out OUT are both needed (or --merge-manual OUT)")
    if not args.submissions.is_dir():
        p.error(f"--submissions {args.submissions} is not a folder")
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    return grade_class(args)
