"""Manual grading of the written answers: one page per question, a scores sheet, its merge.

OUT/manual/<question>.html shows every submission's answer to one question beside the model answer
filled in with that student's own recorded numbers (so a teacher can check the numbers they quote),
and OUT/manual/scores.csv (submission, question, points, max_points, comment) is the sheet to fill
in; scores already entered survive a re-run of the grader.
"""
import csv
import html
import json
from pathlib import Path

from .answers import load_questions, model_answer
from .release import ANSWER_STUB

SHEET = Path("manual") / "scores.csv"
FIELDS = ["submission", "question", "points", "max_points", "comment"]


def render(markdown: str) -> str:
    """A student's markdown as HTML, with any HTML of theirs escaped (no script reaches the teacher)."""
    import mistune
    return mistune.create_markdown(escape=True)(markdown)


def histogram(values: list, bins: int = 10, width: int = 40) -> list:
    """Text histogram lines of values (e.g. totals): 'lo-hi | ####  n'."""
    if not values:
        return ["(no submissions)"]
    lo, hi = min(values), max(values)
    step = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / step))] += 1
    top = max(counts)
    return [f"{lo + i * step:6.1f}-{lo + (i + 1) * step:6.1f} | {'#' * round(width * c / top):{width}s} {c}"
            for i, c in enumerate(counts)]


def _metrics_of(grade: dict, notebook: str) -> dict:
    return next((nb.get("metrics", {}) for nb in grade.get("notebooks", []) if nb["notebook"].startswith(notebook)), {})


def read_scores(out: Path, strict: bool = False) -> dict:
    """{submission: {question: points}} from OUT/manual/scores.csv (rows with no points skipped).
    strict: a ValueError naming the row for points that are not a number in [0, max_points] or an
    unknown question; otherwise such rows are skipped."""
    path, known, scores = Path(out) / SHEET, load_questions(), {}
    if not path.is_file():
        return scores
    with open(path, newline="") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            text = (row.get("points") or "").strip()
            if not text:
                continue
            try:
                q = known[row["question"]]
                points = float(text)
                if not 0 <= points <= float(q["points"]):
                    raise ValueError(f"points must lie in 0..{q['points']}")
            except (KeyError, ValueError) as e:
                if strict:
                    raise ValueError(f"{path}:{n}: {row.get('submission')}, {row.get('question')}: "
                                     f"bad row ({type(e).__name__}: {e})") from e
                continue
            scores.setdefault(row["submission"], {})[row["question"]] = points
    return scores


def write_pages(out: Path, grades: list):
    """OUT/manual/<question>.html for every question and OUT/manual/scores.csv (keeping entered scores)."""
    (Path(out) / "manual").mkdir(parents=True, exist_ok=True)
    old = {}
    if (Path(out) / SHEET).is_file():
        with open(Path(out) / SHEET, newline="") as f:
            old = {(r["submission"], r["question"]): r for r in csv.DictReader(f)}
    rows = []
    for qid, q in load_questions().items():
        page = [f"<h1>Written answer <code>{html.escape(qid)}</code> ({q['points']} points)</h1>",
                f"<p><i>{html.escape(' '.join(q['prompt'].split()))}</i></p>"]
        for g in sorted(grades, key=lambda g: g["submission"]):
            answer = (g.get("answers") or {}).get(qid, "")
            blank = not answer.strip() or answer.strip() == ANSWER_STUB
            metrics = _metrics_of(g, q["notebook"])
            page.append(f"<h2>{html.escape(g['submission'])}</h2><table width='100%' border=1 cellpadding=6><tr>"
                        f"<td width='50%' valign=top><b>Answer</b>"
                        f"{'<p>(no answer)</p>' if blank else render(answer)}</td>"
                        f"<td valign=top><b>Model answer with this student's numbers</b><p>"
                        f"{html.escape(model_answer(q, metrics)) if metrics else '(the notebook did not run)'}</p>"
                        f"<details><summary>all numbers notebook {q['notebook']} recorded</summary><pre>"
                        f"{html.escape(json.dumps(metrics, indent=0)[:4000])}</pre></details></td></tr></table>")
            key = (g["submission"], qid)
            rows.append(old.get(key) or {"submission": g["submission"], "question": qid,
                                         "points": "0" if blank else "", "max_points": q["points"],
                                         "comment": "no answer" if blank else ""})
        (Path(out) / "manual" / f"{qid}.html").write_text(
            "<!doctype html><meta charset='utf-8'><title>" + html.escape(qid) + "</title>" + "\n".join(page),
            encoding="utf-8")
    tmp = Path(out) / "manual" / "scores.csv.tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(Path(out) / SHEET)
