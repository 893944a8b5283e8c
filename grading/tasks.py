"""The hidden checks of the assignment's tasks: `python -m grading.tasks SUBMISSION [--json OUT]`.

Each task of assignment/rubric.yaml is run on the same seeded inputs twice, by a child process
(grading/task_runner.py) that imports the submission's `helpers` and by one that imports the
reference's (this course's), each under time and memory limits. This process compares what the two
saved: a task passes when every output matches the reference to float tolerance. The seed is drawn
afresh for every grading run unless given, so no output can be typed in. What the submission prints
is never read.
"""
import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from helpers.checkpoint import ROOT

from . import sandbox
from .release import load_rubric, strip_source

RUNNER = Path(__file__).with_name("task_runner.py")
RTOL, ATOL = 1e-4, 1e-5


@dataclass
class TaskResult:
    id: str
    points: float
    max_points: float
    status: str                 # "passed", "failed", "not attempted" (still the stub) or "error"
    message: str


def target(entry: dict) -> str:
    """"module:Qualname" of a rubric entry's `where` ("helpers/schedule.py, NoiseSchedule.add_noise")."""
    path, qualname = (part.strip() for part in entry["where"].split(","))
    return f"{Path(path).stem}:{qualname}"


def _run(cmd: list, cwd: Path, timeout: float, memory_gb: float, out: Path, tasks: list, scratch: Path) -> dict:
    """Run one task_runner command; {task: outputs or error} from its result file."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
               TMPDIR=str(scratch), HOME=str(scratch), MPLCONFIGDIR=str(scratch))
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=sandbox.limits(memory_gb, int(timeout) + 5))
    try:
        _, err = proc.communicate(timeout=timeout)
        why = f"the check run ended with exit code {proc.returncode}: {err.decode(errors='replace')[-300:]}"
    except subprocess.TimeoutExpired:
        why = f"the check run took over {timeout:g} s and was stopped"
    finally:
        sandbox.kill_group(proc)                                      # and whatever it started
    try:
        results = torch.load(out, weights_only=True)
    except Exception:                                                 # no file, or not one the runner wrote
        return {t: {"error": "GraderError", "message": why} for t in tasks}
    if "_run" in results:
        return {t: results["_run"] for t in tasks}
    return {t: results.get(t, {"error": "GraderError", "message": why}) for t in tasks}


def reference_without(task: str, root: Path, dest: Path, rubric: dict) -> Path:
    """A copy of the reference's helpers in dest/helpers with only `task` stubbed, and the runner:
    what the process that checks `task` may see of the reference."""
    for src in (Path(root) / "helpers").rglob("*.py"):
        rel = src.relative_to(root)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(strip_source(src.read_text(), rubric, str(rel), only={task}))
    shutil.copy2(RUNNER, dest / RUNNER.name)
    return dest


def run_tasks(submission: Path, rubric: dict, seed: int, timeout: float = 300, memory_gb: float = 8,
              root: Path = ROOT, isolate: "bool | None" = None) -> dict:
    """{task: outputs or {"error", "message"}} from the runner in a child process with `submission`
    as its working directory (the other tasks the reference's, see task_runner); a crash, a timeout
    or a missing result file gives every task an "error" entry saying so.

    isolate (default: where grading.sandbox is available, for any folder but the reference): one
    process per task, in a sandbox where the reference course is hidden, only a scratch folder is
    writable, and the reference's other tasks come from a copy without the task being checked, so
    the submission can neither read nor call the reference's answer."""
    submission, root = Path(submission).resolve(), Path(root).resolve()
    nested = root == submission or root in submission.parents
    isolate = sandbox.available()[0] and not nested if isolate is None else isolate
    targets = {t: target(e) for t, e in rubric.items()}
    results = {}
    for group in ([[t] for t in rubric] if isolate else [list(rubric)]):
        with tempfile.TemporaryDirectory(prefix="tasks-") as tmp:
            scratch = Path(tmp)
            out, runner, ref = scratch / "outputs.pt", RUNNER, root
            if isolate:
                ref = reference_without(group[0], root, scratch / "reference", rubric)
                runner = ref / RUNNER.name
            cmd = [sys.executable, str(runner), str(submission), str(ref), str(seed), str(out), ",".join(group),
                   *(f"{t}={e}" for t, e in targets.items())]
            if isolate:
                cmd = sandbox.wrap(cmd, writable=[scratch], hide=[root])
            results.update(_run(cmd, submission, timeout, memory_gb, out, group, scratch))
    return results


def compare(task: str, got: dict, want: dict) -> "str | None":
    """None when every output of `got` matches `want`, else a message naming the first that does not."""
    for name, ref in want.items():
        if name not in got:
            return f"it returned no {name!r}"
        out = got[name]
        if out.shape != ref.shape:
            return f"{name}: shape {tuple(out.shape)}, the reference's is {tuple(ref.shape)}"
        if not torch.isfinite(out).all():
            return f"{name}: contains NaN or infinity"
        if not torch.allclose(out, ref, rtol=RTOL, atol=ATOL):
            err = (out - ref).abs()
            return f"{name}: differs from the reference by up to {err.max().item():.3g}"
    return None


def diagnose(task: str, got: dict, want: dict) -> str:
    """A hint for the commonest mistakes a check can recognise from the outputs ('' if none)."""
    if task == "add_noise" and "per_image" in got:
        ab = want["alpha_bar"].view(-1, 1, 1, 1)
        if torch.allclose(got["per_image"], ab * want["x0"] + (1 - ab) * want["eps"], atol=1e-5):
            return (" It matches alpha_bar x0 + (1 - alpha_bar) eps: the weights are the square roots, "
                    "sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t), so that x_t has variance 1 at t = T - 1.")
    if task == "repaint_paste" and "filled" in got:
        known = ((got["filled"] - want["x0"]) * want["mask"]).abs().max().item()
        if known > 1e-5:
            return f" The known pixels (mask = 1) changed by up to {known:.3g}: the last step must paste x0 itself."
    return ""


def grade_tasks(submission: "str | Path", seed: "int | None" = None, root: Path = ROOT,
                reference: "dict | None" = None, timeout: float = 300) -> list:
    """TaskResult per rubric task for the submission folder (a student edition or a checkout)."""
    rubric = load_rubric(root)
    seed = secrets.randbelow(10 ** 6) if seed is None else seed
    want = reference or run_tasks(Path(root), rubric, seed, timeout, root=root)
    got = run_tasks(Path(submission).resolve(), rubric, seed, timeout, root=root)
    results = []
    for task, entry in rubric.items():
        out, ref, pts = got[task], want[task], float(entry["points"])
        if "error" in ref:
            raise RuntimeError(f"the reference fails its own task {task}: {ref['error']}: {ref['message']}")
        if out.get("error") == "NotImplementedError":
            results.append(TaskResult(task, 0, pts, "not attempted",
                                      f"still the stub in {entry['where']}: {entry['task']}."))
        elif "error" in out:
            results.append(TaskResult(task, 0, pts, "error", f"{entry['where']} raised {out['error']}: {out['message']}"))
        else:
            wrong = compare(task, out, ref)
            results.append(TaskResult(task, 0 if wrong else pts, pts, "failed" if wrong else "passed",
                                      f"{entry['where']}: {wrong}.{diagnose(task, out, ref)}" if wrong else
                                      f"matches the reference ({entry['hidden']})."))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.tasks", description=__doc__.split("\n")[0])
    parser.add_argument("submission", help="a student's folder (the student edition, completed or not)")
    parser.add_argument("--json", help="write the results here as JSON")
    parser.add_argument("--seed", type=int, help="the inputs' seed (default: a fresh one)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the submission's check run")
    args = parser.parse_args(argv)
    if not (Path(args.submission) / "helpers").is_dir():
        print(f"grading.tasks: {args.submission} has no helpers/ folder: is it a copy of the course?", file=sys.stderr)
        return 2
    results = grade_tasks(args.submission, args.seed, timeout=args.timeout)
    for r in results:
        print(f"{r.id:15s} {r.points:g}/{r.max_points:g}  {r.status:13s} {r.message}")
    print(f"{'total':15s} {sum(r.points for r in results):g}/{sum(r.max_points for r in results):g}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
