"""The written answers: prompts and answer cells in the notebooks, model answers from recorded numbers.

Each question of assignment/rubric.yaml (`questions:`) has two markdown cells in its notebook, placed
before the heading its entry names: the prompt (tag `question`) and the student's answer (tag
`answer`), both carrying the question's id in `metadata.course.question`. In the instructor's edition
the answer cell holds the model answer between `<!-- BEGIN SOLUTION -->` and `<!-- END SOLUTION -->`,
filled in from the metrics that notebook recorded; the release blanks it.

    python -m grading.answers notebooks/*.ipynb     # place the cells, refresh the model answers in place
"""
import argparse
import json
import re
import string
import sys
from pathlib import Path

from helpers.checkpoint import ROOT
from helpers.notebook import read_metrics

from .release import ReleaseError, rubric_section

QUESTION_TAG, ANSWER_TAG = "question", "answer"
MODEL_HEADER = "**Model answer** (instructor's edition; the numbers are this notebook's recorded metrics):"


def load_questions(root: Path = ROOT) -> dict:
    """{question id: its entry} (id, notebook, points, before, prompt, model) from the rubric."""
    return rubric_section("questions", {"id", "notebook", "points", "before", "prompt"}, root)


class _Metrics(string.Formatter):
    """str.format over recorded metrics, with negative list indices ({acc[-1]}), dict keys ({n[ddpm]})
    and a list's smallest or largest value ({acc.min}, {acc.max})."""

    def get_field(self, field_name, args, kwargs):
        field_name, _, reduce = field_name.partition(".")
        name, *keys = re.split(r"[\[\]]+", field_name.strip("]"))
        value = kwargs[name]
        for key in keys:
            value = value[int(key)] if isinstance(value, list) else value[key]
        return {"": lambda v: v, "min": min, "max": max}[reduce](value), field_name


def model_answer(question: dict, metrics: dict) -> str:
    """The question's model answer with `metrics` filled in; a metric the notebook did not record
    (a quick run, a section skipped) is named instead of failing."""
    try:
        return _Metrics().format(" ".join(question.get("model", "").split()), **metrics)
    except (KeyError, IndexError, ValueError, TypeError) as e:
        return f"_(The model answer needs the metric {e}, which this run did not record.)_"


def _tagged(cell: dict, tag: str) -> "str | None":
    """The question id of a prompt or answer cell with this tag, else None."""
    meta = cell.get("metadata", {})
    if cell.get("cell_type") == "markdown" and tag in meta.get("tags", []):
        return meta.get("course", {}).get("question")
    return None


def _cell(source: str, tag: str, qid: str) -> dict:
    return {"cell_type": "markdown", "metadata": {"tags": [tag], "course": {"question": qid}},
            "source": source.splitlines(keepends=True)}


def prompt_text(q: dict) -> str:
    return f"#### Written answer `{q['id']}` ({q['points']} points, graded by hand)\n\n{' '.join(q['prompt'].split())}"


def answer_text(q: dict, metrics: dict) -> str:
    return f"<!-- BEGIN SOLUTION -->\n{MODEL_HEADER}\n{model_answer(q, metrics)}\n<!-- END SOLUTION -->"


def place(nb: dict, questions: dict, notebook: str) -> dict:
    """Put each of the notebook's questions (prompt and answer cell) before its heading, or refresh
    the cells already there; the model answers are filled in from the notebook's own metrics.
    ReleaseError when a heading is not in the notebook."""
    metrics, cells = read_metrics(nb), nb["cells"]
    for q in (q for q in questions.values() if q["notebook"] == notebook):
        prompt, answer = _cell(prompt_text(q), QUESTION_TAG, q["id"]), _cell(answer_text(q, metrics), ANSWER_TAG, q["id"])
        at = [i for i, c in enumerate(cells) if q["id"] in (_tagged(c, QUESTION_TAG), _tagged(c, ANSWER_TAG))]
        if at:
            cells[at[0]: at[-1] + 1] = [prompt, answer]
            continue
        heading = [i for i, c in enumerate(cells)
                   if c["cell_type"] == "markdown" and "".join(c["source"]).startswith(q["before"])]
        if not heading:
            raise ReleaseError(f"notebook {notebook}: no cell starts with {q['before']!r} (question {q['id']})")
        cells[heading[0]:heading[0]] = [prompt, answer]
    return nb


def answers_of(nb: dict) -> dict:
    """{question id: the text of its answer cell} in a (student's) notebook."""
    return {qid: "".join(c["source"]).strip() for c in nb.get("cells", []) if (qid := _tagged(c, ANSWER_TAG))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.answers", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="instructor's notebooks to update in place")
    args = parser.parse_args(argv)
    questions = load_questions()
    for path in args.notebooks:
        nb = place(json.loads(path.read_text()), questions, path.name[:2])
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print(f"{path}: {sum(q['notebook'] == path.name[:2] for q in questions.values())} written answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
