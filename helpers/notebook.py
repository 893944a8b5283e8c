"""Notebook plumbing: quick mode, parameters checked by declared rules, recorded metrics, tables.

Every notebook records its key results with ``record(...)``; the values are shown as a table and
stored in the output's metadata, where the tests and the grader read them back with
``read_metrics``.

    check_params(globals(), seed=int, n_show=(1, 32), show_ts=[(0, 999)], sampler=["ddim", "ddpm"],
                 checkpoint=optional(str))
"""
import json
import os
from pathlib import Path

import torch

METRICS_KEY = "course_metrics"


def quick_default() -> bool:
    """Quick mode from the environment (COURSE_QUICK=1), so the tests and CI can switch it on."""
    return os.environ.get("COURSE_QUICK", "0").lower() in ("1", "true", "yes")


# parameters -----------------------------------------------------------------------------------

class optional:
    """A rule that also accepts None (e.g. checkpoint=optional(str): None means the default)."""

    def __init__(self, rule):
        self.rule = rule


def _describe(rule) -> str:
    if isinstance(rule, optional):
        return f"None or {_describe(rule.rule)}"
    if isinstance(rule, type):
        return {int: "an integer", float: "a number", bool: "True or False", str: "a string"}.get(rule, rule.__name__)
    if isinstance(rule, tuple):
        return f"a number in {rule[0]}..{rule[1]}"
    if isinstance(rule, list) and len(rule) == 1 and isinstance(rule[0], tuple):
        return f"a non-empty list of numbers in {rule[0][0]}..{rule[0][1]}"
    if isinstance(rule, list) and len(rule) == 1 and isinstance(rule[0], list):
        return f"a non-empty list of some of {rule[0]}"
    return f"one of {rule}"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _obeys(value, rule) -> bool:
    if isinstance(rule, optional):
        return value is None or _obeys(value, rule.rule)
    if rule is float:
        return _number(value)
    if rule is int:
        return _number(value) and int(value) == value
    if isinstance(rule, type):
        return isinstance(value, rule)
    if isinstance(rule, tuple):
        return _number(value) and rule[0] <= value <= rule[1]
    if isinstance(rule, list) and len(rule) == 1 and isinstance(rule[0], (tuple, list)):
        return isinstance(value, (list, tuple)) and len(value) > 0 and all(_obeys(v, rule[0]) for v in value)
    return value in rule


def check_params(scope: dict, **rules):
    """Check the notebook parameters named in rules against their values in scope (globals()).

    A rule is a type (int, float, bool, str), a range (lo, hi), a list of choices, [(lo, hi)] for
    a non-empty list of numbers in that range, [[choices]] for a non-empty list of some of those
    choices (sweep_samplers=[["ddpm", "ddim"]]), or optional(rule) to allow None as well. Raises a
    ValueError naming the first parameter whose value breaks its rule.
    """
    for name, rule in rules.items():
        if name not in scope:
            raise ValueError(f"check_params: the notebook has no parameter {name!r}")
        if not _obeys(scope[name], rule):
            raise ValueError(f"bad notebook parameter {name}={scope[name]!r}: expected {_describe(rule)}")


# recorded metrics -----------------------------------------------------------------------------

def _plain(v):
    if isinstance(v, torch.Tensor):
        v = v.tolist()
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def record(**metrics):
    """Show and store key results, e.g. record(final_val_loss=0.031, accuracy=0.995): a markdown table
    for the reader, JSON for read_metrics and the grader. Returns None, so a record(...) that ends a
    cell does not echo the metrics a second time as a dict."""
    from IPython.display import display
    metrics = {k: _plain(v) for k, v in metrics.items()}
    rows = "\n".join(f"| `{k}` | {json.dumps(v) if not isinstance(v, float) else f'{v:.4g}'} |"
                     for k, v in metrics.items())
    display({"text/markdown": "| recorded metric | value |\n|---|---|\n" + rows,
             "application/json": metrics}, raw=True, metadata={METRICS_KEY: True})


def read_metrics(notebook: "str | Path | dict") -> dict:
    """All metrics a (executed) notebook recorded, merged in cell order."""
    nb = json.loads(Path(notebook).read_text()) if not isinstance(notebook, dict) else notebook
    out = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []):
            if o.get("metadata", {}).get(METRICS_KEY) and "application/json" in o.get("data", {}):
                out.update(o["data"]["application/json"])
    return out


# tables ---------------------------------------------------------------------------------------

def markdown_table(headers, rows, fmt: str = "{:.4g}") -> str:
    """A Markdown table; floats are written with fmt, None as an en dash."""
    def cell(v):
        return "–" if v is None else fmt.format(v) if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def show_table(headers, rows, fmt: str = "{:.4g}"):
    """Display markdown_table(...) as a cell output."""
    from IPython.display import Markdown, display
    display(Markdown(markdown_table(headers, rows, fmt)))


def source_of(obj) -> str:
    """The source of a function or class as a student reads it: without the assignment's
    `# BEGIN SOLUTION` / `# END SOLUTION` marker lines."""
    import inspect
    import textwrap
    return "\n".join(line for line in textwrap.dedent(inspect.getsource(obj)).strip().splitlines()
                     if not line.strip().startswith(("# BEGIN SOLUTION", "# END SOLUTION")))
