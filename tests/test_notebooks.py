"""Execute every notebook in notebooks/ in quick mode with papermill and check what it recorded.

A notebook added to notebooks/ is picked up automatically; give it an entry in EXPECT to assert on
the metrics it records with helpers.notebook.record(...).
"""
import json
from pathlib import Path

import papermill as pm
import pytest

from helpers.notebook import read_metrics

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# notebook stem -> {metric: predicate}; every notebook must record at least one metric.
EXPECT = {}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, tmp_path):
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters={"quick": True}, cwd=str(path.parent),
                        kernel_name="python3", progress_bar=False)
    metrics = read_metrics(out)
    assert metrics, f"{path.name} recorded no metrics"
    for key, ok in EXPECT.get(path.stem, {}).items():
        assert key in metrics, f"{path.name} did not record {key!r}"
        assert ok(metrics[key]), f"{path.name}: {key} = {metrics[key]!r} fails its check"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_has_outputs_and_no_errors(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), \
        f"{path.name} has no cell tagged 'parameters'"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c.get("outputs") is not None for c in code)
    assert any(c.get("outputs") for c in code), f"{path.name} is committed without outputs"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} has a stored error: {errors[0].get('ename')}"
    assert read_metrics(nb), f"{path.name}'s committed outputs record no metrics"
