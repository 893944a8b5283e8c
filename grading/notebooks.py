"""Batch runner for grading: execute the numbered notebooks, export HTML, summarise the metrics.

    python -m helpers.grade --quick                       # this checkout, quick mode
    python -m helpers.grade --repo ../student -p epochs 2 --helpers theirs --timeout 900

Each notebooks/NN_*.ipynb runs in order, in its own papermill process (so a per-notebook timeout
can stop it and its kernel), and a failing notebook does not stop the run. The output folder gets
the executed notebooks, an HTML export of each (images embedded, readable without a kernel), the
papermill logs, summary.json and summary.md: per notebook its status (ok / failed at cell N with
the error / timed out), runtime and the metrics it recorded with helpers.notebook.record(...).
The exit code is 1 when any notebook failed or timed out, 2 for bad arguments.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from helpers.checkpoint import ROOT
from helpers.notebook import read_metrics

from .sandbox import kill_group

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
PAPERMILL_CELLS = ("injected-parameters", "papermill-error-cell-tag")  # cells papermill adds

HELP_HELPERS = """\
which `helpers` package the notebooks import.
  ours   (default) this checkout's helpers (%s), so a student's notebooks are graded
         against the reference library, its data/ folder and its shipped model;
  theirs the graded checkout's own REPO/helpers (and so its data/ folder).
The choice is made by putting that checkout's root first on PYTHONPATH; kernels start in
REPO/notebooks (as in tests/test_notebooks.py), so the notebooks' relative paths refer to the
graded checkout. The grader checks where `import helpers` resolves before running anything.""" % (
    ROOT / "helpers")


# command-line values --------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_value(text: str):
    """A -p value as papermill and YAML read it: '2' -> 2, '1e-3' -> 0.001, 'True'/'true' -> True,
    'None' -> None, '[1, 2]' -> [1, 2], anything else -> the string itself."""
    import yaml
    if text == "None":
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and _NUMBER.fullmatch(value):  # YAML 1.1 reads '1e-3' as a string
        return float(value)
    return text if value is None else value


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m helpers.grade", formatter_class=argparse.RawTextHelpFormatter,
        description="Execute the course notebooks (notebooks/NN_*.ipynb) in order with papermill, "
                    "export each to HTML\nand write summary.json / summary.md with status, runtime "
                    "and recorded metrics.\nExit code 1 when any notebook failed or timed out.")
    p.add_argument("--repo", type=Path, default=ROOT,
                   help="checkout to grade (default: this one, %(default)s)")
    p.add_argument("--helpers", choices=("ours", "theirs"), default="ours", help=HELP_HELPERS)
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"),
                   help="override a notebook parameter, e.g. -p epochs 2 -p sampler ddim; values "
                        "are read\nlike papermill's -p / YAML (2 -> int, 1e-3 -> float, true -> bool)")
    p.add_argument("--quick", action="store_true",
                   help="quick mode: sets the parameter quick=True and COURSE_QUICK=1")
    p.add_argument("--timeout", type=float, default=1800.0, metavar="SECONDS",
                   help="wall-clock limit per notebook, kernel start included (default %(default)s)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: runs/<timestamp>/ in the current directory)")
    p.add_argument("--only", nargs="+", default=None, metavar="PREFIX",
                   help="grade only notebooks whose name starts with one of these, e.g. --only 01 04")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default %(default)s)")
    args = p.parse_args(argv)
    args.parameters = {name: parse_value(value) for name, value in args.parameter}
    if args.quick:
        args.parameters["quick"] = True
    if args.timeout <= 0:
        p.error(f"--timeout must be > 0 seconds, got {args.timeout}")
    return args


# environment ----------------------------------------------------------------------------------

def kernel_env(helpers_root: Path, quick: bool) -> dict:
    """The environment for papermill and its kernel: helpers_root first on PYTHONPATH, figures
    drawn inline (an inherited MPLBACKEND=Agg would leave the exports without figures)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(helpers_root)] + [
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.pop("MPLBACKEND", None)  # ipykernel then selects the inline backend
    if quick:
        env["COURSE_QUICK"] = "1"
    return env


def resolved_helpers(env: dict, cwd: Path) -> "Path | None":
    """Where `import helpers` resolves for a kernel started with this env and cwd (no import)."""
    code = ("import importlib.util as u; s = u.find_spec('helpers'); "
            "print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True,
                         text=True, timeout=60)
    path = out.stdout.strip()
    return Path(path).resolve() if path else None


# one notebook ---------------------------------------------------------------------------------

def run_papermill(src: Path, dst: Path, parameters: dict, cwd: Path, env: dict, kernel: str,
                  timeout: float, log: Path, wrap=None) -> "tuple[int | None, float]":
    """Execute src -> dst in a papermill subprocess; returns (exit code or None on timeout, seconds).
    wrap: a function of the command that returns the command to run (e.g. grading.sandbox.wrap).

    On timeout the papermill process group is killed; its kernel (in a session of its own) exits
    when it sees its parent gone. papermill saves dst as each cell starts, so it shows the progress.
    """
    params = log.with_suffix(".parameters.json")
    params.write_text(json.dumps(parameters))  # JSON is YAML, which papermill's -f reads
    cmd = [sys.executable, "-m", "papermill", str(src), str(dst), "-f", str(params),
           "--cwd", str(cwd), "-k", kernel, "--no-progress-bar"]
    cmd = wrap(cmd) if wrap else cmd
    start = time.monotonic()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
            kill_group(proc, grace=10)
        except BaseException:  # Ctrl-C: papermill is in its own session and would not see it
            kill_group(proc, grace=10)
            raise
    params.unlink(missing_ok=True)
    return rc, time.monotonic() - start


def source_cells(nb: dict) -> list:
    """The executed notebook's cells without those papermill inserted, numbered as in the source."""
    return [c for c in nb.get("cells", [])
            if not set(c.get("metadata", {}).get("tags", [])) & set(PAPERMILL_CELLS)]


def first_error(nb: dict) -> "dict | None":
    """{cell (1-based, as in the source notebook), execution_count, ename, evalue, source} of the
    first cell with an unexpected error output (not tagged raises-exception), or None."""
    for n, cell in enumerate(source_cells(nb), start=1):
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                return {"cell": n, "execution_count": cell.get("execution_count"),
                        "ename": o.get("ename", ""), "evalue": o.get("evalue", ""),
                        "source": _first_line(cell)}
    return None


def running_cell(nb: dict) -> "dict | None":
    """The cell papermill marked as running (where a timed-out notebook was stopped)."""
    for n, cell in enumerate(source_cells(nb), start=1):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return {"cell": n, "source": _first_line(cell)}
    return None


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _first_line(cell: dict) -> str:
    lines = [line for line in _source(cell).splitlines() if line.strip()]
    return lines[0][:120] if lines else ""


def _log_tail(log: Path, n: int = 1) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return "\n".join(lines[-n:])


def unknown_parameters(src: Path, parameters: dict) -> list:
    """Names passed with -p that no line `name = ...` of the notebook's `parameters` cell assigns
    (papermill then only injects them; a typo like -p epoch 2 would change nothing)."""
    cells = json.loads(src.read_text()).get("cells", [])
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    source = _source(params[0]) if params else ""
    return sorted(name for name in parameters
                  if not re.search(rf"^{re.escape(name)}\s*(:[^=\n]*)?=", source, re.MULTILINE))


def export_html(executed: Path, html: Path) -> Path:
    """nbconvert's HTML export with images embedded: readable, and JS outputs (matplotlib's
    to_jshtml scrubbers) still work, without a kernel."""
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter(embed_images=True).from_filename(str(executed))
    html.write_text(body, encoding="utf-8")
    return html


def grade_notebook(src: Path, out_dir: Path, parameters: dict, cwd: Path, env: dict, kernel: str,
                   timeout: float, wrap=None) -> dict:
    """Run one notebook and describe the result (a summary.json entry)."""
    dst, log = out_dir / src.name, out_dir / "logs" / f"{src.stem}.log"
    entry = {"notebook": src.stem, "status": "ok", "runtime_s": None, "error": None,
             "metrics": {}, "executed": None, "html": None, "log": str(log.relative_to(out_dir)),
             "warnings": []}
    unknown = unknown_parameters(src, parameters)
    if unknown:
        entry["warnings"].append(f"parameters not in the notebook's parameters cell: {unknown}")
    rc, seconds = run_papermill(src, dst, parameters, cwd, env, kernel, timeout, log, wrap)
    entry["runtime_s"] = round(seconds, 1)
    nb = json.loads(dst.read_text()) if dst.is_file() else None
    if rc is None:
        entry["status"] = "timed_out"
        entry["error"] = {"timeout_s": timeout, **((nb and running_cell(nb)) or {})}
    elif rc != 0:
        entry["status"] = "failed"
        entry["error"] = (first_error(nb) if nb else None) or {"message": _log_tail(log)}
    if nb is not None:
        entry["executed"] = dst.name
        entry["metrics"] = read_metrics(nb)
        try:
            entry["html"] = export_html(dst, out_dir / f"{src.stem}.html").name
        except Exception as e:  # a broken export must not hide the notebook's own result
            entry["warnings"].append(f"HTML export failed: {type(e).__name__}: {e}")
    return entry


# summaries ------------------------------------------------------------------------------------

def describe(entry: dict) -> str:
    """'ok', 'failed at cell 7 (In [4]): ValueError: ...' or 'timed out after 60 s in cell 3'."""
    e = entry["error"] or {}
    if entry["status"] == "ok":
        return "ok"
    if entry["status"] == "timed_out":
        where = f" in cell {e['cell']}" if "cell" in e else ""
        return f"timed out after {e.get('timeout_s', 0):g} s{where}"
    if "cell" in e:
        count = f" (In [{e['execution_count']}])" if e.get("execution_count") else ""
        return f"failed at cell {e['cell']}{count}: {e['ename']}: {e['evalue']}"
    return f"failed: {e.get('message', 'see log')}"


def _md(text: str, width: int = 80) -> str:
    """One Markdown table cell: shortened, one line, pipes escaped."""
    text = text if len(text) <= width else text[:width - 3] + "..."
    return text.replace("|", "\\|").replace("\n", " ")


def _value(v) -> str:
    return _md(f"{v:.4g}" if isinstance(v, float) else json.dumps(v))


def summary_markdown(summary: dict) -> str:
    rows = [f"| {e['notebook']} | {_md(describe(e), 100)} | {e['runtime_s']:.1f} | "
            f"{len(e['metrics'])} |" for e in summary["notebooks"]]
    lines = [f"# Grading run {summary['started']}", "",
             f"- repo: `{summary['repo']}`", f"- helpers: {summary['helpers']} "
             f"(`{summary['helpers_path']}`)",
             f"- parameters: `{json.dumps(summary['parameters'])}`",
             f"- timeout per notebook: {summary['timeout_s']:g} s",
             f"- result: {summary['passed']} ok, {summary['failed']} failed or timed out", "",
             "| notebook | status | runtime (s) | metrics |", "|---|---|---|---|", *rows]
    for e in summary["notebooks"]:
        lines += ["", f"## {e['notebook']}", "", f"Status: {describe(e)}."]
        if e["status"] == "failed" and e["error"] and e["error"].get("source"):
            lines += [f"Failing cell starts with: `{e['error']['source']}`"]
        lines += [f"Warning: {w}" for w in e["warnings"]]
        if e["metrics"]:
            lines += ["", "| metric | value |", "|---|---|"]
            lines += [f"| `{k}` | {_value(v)} |" for k, v in e["metrics"].items()]
        links = [f"[{kind}]({e[kind]})" for kind in ("executed", "html") if e[kind]]
        lines += ["", " · ".join(links + [f"[log]({e['log']})"])]
    return "\n".join(lines) + "\n"


# main -----------------------------------------------------------------------------------------

def find_notebooks(repo: Path, only=None) -> list:
    paths = sorted((repo / "notebooks").glob(NOTEBOOK_GLOB))
    return [p for p in paths if not only or any(p.name.startswith(o) for o in only)]


def default_out_dir() -> Path:
    base = Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    out, k = base, 1
    while out.exists():
        out, k = base.with_name(f"{base.name}-{k}"), k + 1
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    repo = args.repo.resolve()
    notebooks = find_notebooks(repo, args.only)
    if not notebooks:
        print(f"error: no notebooks matching notebooks/{NOTEBOOK_GLOB} in {repo}"
              + (f" starting with {args.only}" if args.only else ""), file=sys.stderr)
        return 2
    helpers_root = ROOT if args.helpers == "ours" else repo
    if not (helpers_root / "helpers" / "__init__.py").is_file():
        print(f"error: --helpers {args.helpers}: {helpers_root} has no helpers/ package",
              file=sys.stderr)
        return 2
    cwd = repo / "notebooks"
    env = kernel_env(helpers_root, args.quick)
    found = resolved_helpers(env, cwd)
    if found != (helpers_root / "helpers").resolve():
        print(f"error: --helpers {args.helpers} wants {helpers_root / 'helpers'}, but a kernel in "
              f"{cwd} would import {found}", file=sys.stderr)
        return 2

    out_dir = (args.out or default_out_dir()).resolve()
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    summary = {"started": datetime.now().isoformat(timespec="seconds"), "repo": str(repo),
               "helpers": args.helpers, "helpers_path": str(found), "parameters": args.parameters,
               "timeout_s": args.timeout, "output_dir": str(out_dir), "notebooks": []}
    print(f"grading {len(notebooks)} notebook(s) from {repo} into {out_dir}", flush=True)
    for i, src in enumerate(notebooks, start=1):
        print(f"[{i}/{len(notebooks)}] {src.stem} ...", end=" ", flush=True)
        entry = grade_notebook(src, out_dir, args.parameters, cwd, env, args.kernel, args.timeout)
        summary["notebooks"].append(entry)
        print(f"{describe(entry)} ({entry['runtime_s']:.1f} s)", flush=True)
    summary["passed"] = sum(e["status"] == "ok" for e in summary["notebooks"])
    summary["failed"] = len(notebooks) - summary["passed"]
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    (out_dir / "summary.md").write_text(summary_markdown(summary))
    print(f"{summary['passed']} ok, {summary['failed']} failed or timed out; "
          f"see {out_dir / 'summary.md'}")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    # a SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the running notebook is stopped too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.exit(main())
