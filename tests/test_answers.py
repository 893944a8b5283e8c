"""The written answers: a prompt and an answer cell per question, model answers that are the
notebook's own recorded numbers (grading/answers.py)."""
import json

import pytest

from grading.answers import (ANSWER_TAG, MODEL_HEADER, QUESTION_TAG, answer_text, answers_of, load_questions,
                             model_answer, place)
from helpers.checkpoint import ROOT
from helpers.notebook import read_metrics

QUESTIONS = load_questions()
NOTEBOOKS = {p.name[:2]: p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}


def test_the_report_questions_are_spread_over_the_notebooks_with_points():
    assert len(QUESTIONS) >= 9
    assert {q["notebook"] for q in QUESTIONS.values()} == set(NOTEBOOKS)
    assert all(q["points"] > 0 and q["model"] for q in QUESTIONS.values())


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_each_question_has_its_prompt_then_its_answer_before_its_heading(number):
    nb = json.loads(NOTEBOOKS[number].read_text())
    cells = nb["cells"]
    for q in (q for q in QUESTIONS.values() if q["notebook"] == number):
        tagged = [(i, c["metadata"]["tags"][0]) for i, c in enumerate(cells)
                  if c["metadata"].get("course", {}).get("question") == q["id"]]
        assert [tag for _, tag in tagged] == [QUESTION_TAG, ANSWER_TAG], q["id"]
        (i, _), (j, _) = tagged
        assert j == i + 1 and f"`{q['id']}`" in "".join(cells[i]["source"])
        after = next(k for k in range(j + 1, len(cells)) if cells[k]["cell_type"] == "markdown"
                     and not cells[k]["metadata"].get("course"))
        assert "".join(cells[after]["source"]).startswith(q["before"]), q["id"]


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_the_model_answers_are_the_notebooks_own_numbers(number):
    """Typed numbers go stale; these are rendered from the committed outputs (python -m grading.answers)."""
    nb = json.loads(NOTEBOOKS[number].read_text())
    metrics, answers = read_metrics(nb), answers_of(nb)
    for q in (q for q in QUESTIONS.values() if q["notebook"] == number):
        assert answers[q["id"]] == answer_text(q, metrics).strip(), \
            f"{q['id']}: stale model answer; run python -m grading.answers notebooks/{NOTEBOOKS[number].name}"
        assert "did not record" not in answers[q["id"]] and MODEL_HEADER in answers[q["id"]]


def test_model_answer_reads_indices_keys_and_extremes_and_names_what_is_missing():
    q = {"model": "from {acc[0]:.0%} to {acc[-1]:.0%}, {steps[ddim]} steps, at worst {acc.min:.0%}"}
    assert model_answer(q, {"acc": [0.5, 0.25, 0.9], "steps": {"ddim": 2}}) == "from 50% to 90%, 2 steps, at worst 25%"
    assert "the metric 'steps'" in model_answer(q, {"acc": [0.5]})
    assert "did not record" in model_answer(q, {"acc": [], "steps": {}})


def test_place_is_idempotent_and_refreshes_a_stale_answer():
    q = {"id": "q", "notebook": "09", "points": 1, "before": "## End", "prompt": "Why?", "model": "x is {x}."}
    record = {"output_type": "display_data", "metadata": {"course_metrics": True},
              "data": {"application/json": {"x": 3}, "text/markdown": "|x|3|"}}
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": [], "outputs": [record]},
                    {"cell_type": "markdown", "metadata": {}, "source": ["## End"]}]}
    once = place(json.loads(json.dumps(nb)), {"q": q}, "09")
    assert [c["metadata"].get("tags") for c in once["cells"]] == [None, [QUESTION_TAG], [ANSWER_TAG], None]
    assert "x is 3." in answers_of(once)["q"]
    record["data"]["application/json"]["x"] = 4
    twice = place(json.loads(json.dumps(once).replace('"x": 3', '"x": 4')), {"q": q}, "09")
    assert len(twice["cells"]) == 4 and "x is 4." in answers_of(twice)["q"]
