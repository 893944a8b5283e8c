"""Execute every notebook in notebooks/ in quick mode with papermill and check what it recorded.

A notebook added to notebooks/ is picked up automatically; give it an entry in EXPECT to assert on
the metrics it records with helpers.notebook.record(...). Each notebook runs once (marker `slow`),
and the same run must reproduce the stored output of every code cell marked `# NBVAL_CHECK_OUTPUT`
(shapes, parameter counts, schedule values: what does not depend on quick mode).
"""
import json
import warnings
from pathlib import Path

import papermill as pm
import pytest

from helpers.data import DEBIAN_FASHION
from helpers.notebook import METRICS_KEY, read_metrics

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# notebook stem -> {metric: predicate}; every notebook must record at least one metric.
EXPECT = {
    "01_forward_diffusion": {
        "cosine_t_destroyed": lambda v: 400 <= v <= 600,           # alpha_bar < 0.5 (SNR < 1)
        "linear_t_destroyed": lambda v: 200 <= v <= 320,
        "x_last_corr_with_x0": lambda v: abs(v) < 0.02,            # x_{T-1} carries no digit
        "residual_std_sequential": lambda v: all(abs(s - 1) < 0.05 for s in v),
        "residual_std_one_jump": lambda v: all(abs(s - 1) < 0.05 for s in v),
        "mse_one_shot": lambda v: v[0] < 0.02,                     # little noise: one call suffices
        "acc_reverse": lambda v: v[0] >= 0.9 and v[-1] <= 0.5,     # identity kept at low t, lost at T-1
        "one_shot_extra_grey": lambda v: v > 0,                    # one call is blurrier than the reverse
        "known_label_acc_reverse": lambda v: v[-1] >= 0.5,         # from pure noise, with the label
    },
    "02_unet": {
        "params_total": lambda v: v > 100_000,
        "val_loss_skips": lambda v: v < 0.5,
        "skip_loss_ratio": lambda v: v > 1.5,                      # without skips: worse loss
        "t_sweep_best_offset": lambda v: v <= 150,                 # eps is predicted best at the true t
        "label_spread": lambda v: v[-1] > 2 * v[0],                # the label matters more at high t
        "label_follow": lambda v: v[-1] > 0.5 and v[-1] > v[0] + 0.3,
    },
    "03_training": {
        "untrained_val_loss": lambda v: 0.7 < v < 1.2,            # an untrained net scores like answering 0
        "zero_loss": lambda v: 0.8 < v < 1.01,                     # E[v^2] = ab + (1 - ab) E[x0^2], x0 mostly -1
        "val_loss_first": lambda v: v > 0.2,                       # ... and training brings it down:
        "final_val_loss": lambda v: v < 0.3,                       # (quick: 60 steps of batch 32, from ~0.96)
        "hardest_t": lambda v: v < 250,                            # eps is hardest to predict at small t
        "loss_by_t_shipped": lambda v: v[0] > 10 * v[-1],
        "resume_exact": lambda v: v is True,                       # a reloaded checkpoint is the same model
        "resume_to_step": lambda v: v >= 70,                       # ... and trains on
        "accuracy_shipped": lambda v: v >= 0.8,
        "final_grid_accuracy": lambda v: v >= 0.7,                 # quick mode shows the shipped model
    },
    "04_reverse_diffusion": {
        "ddpm_x_t_start": lambda v: v <= 0.3,                      # x_T is noise: about chance
        "ddpm_x_t_end": lambda v: v >= 0.8,                        # the finished digits are readable
        "ddim_x_t_end": lambda v: v >= 0.6,                        # (DDIM without guidance is weaker)
        "ddpm_x_t_cross50": lambda v: v is not None and 0.2 < v < 1,   # the judge reads x_t after x0_hat ...
        "ddpm_control_x_t_cross50": lambda v: v is not None and 0.2 < v < 1,   # ... as it reads noised real digits
        "ddpm_x0_cross50": lambda v: v is not None and v < 0.5,    # ... but the prediction x0_hat early
        "ddpm_x_t_read_cross50": lambda v: v is not None and 0.2 < v < 0.8,   # and a linear denoiser in between
        "coarse_to_fine": lambda v: v is True,
        "settle_low_xt": lambda v: v < 0.9,
        "steps_accuracy": lambda d: d["ddim_20"] >= d["ddim_1"] - 0.1 and d["dpm++_20"] >= 0.9,   # 20 steps read well
        "fewest_steps_98": lambda d: any(k is not None for k in d.values()),
        "kid_real_vs_real": lambda v: abs(v) < 0.5,
        "guidance_accuracy": lambda v: v[0] < 0.3 and v[-1] > v[0] + 0.3,   # w = 0 ignores the label
        "guidance_diversity": lambda v: v[-1] < v[0],              # strong guidance: samples more alike
        "distilled_accuracy": lambda d: set(d) == {"1", "2", "4"} and d["4"] >= 0.8,   # the distilled model reads
    },
    "05_clip_evaluation": {
        "clip_score_per_digit": lambda v: len(v) == 10 and all(0 < s <= 100 for s in v),
        "clip_score_margin": lambda v: v > 10,                     # the own digit's prompt scores highest
        "zero_shot_accuracy": lambda v: v >= 0.7,
        "classifier_accuracy": lambda v: v >= 0.7,
        "agreement": lambda v: 0 <= v <= 1,                        # (on the young model: 5 steps in quick mode)
        "young_steps": lambda v: v == 5,                           # quick mode's young model
        "young_per_digit": lambda v: len(v) == 10,
        "finetune_acc_plain": lambda v: 0 <= v <= 1,
        "finetune_acc_clip": lambda v: 0 <= v <= 1,
        "rank_by_clip": lambda v: sorted(v) == list(range(10)),
        "rank_by_classifier": lambda v: sorted(v) == list(range(10)),
        "rerank_clip_best": lambda v: v > 0,
        "rerank_weak_acc_best": lambda v: 0 <= v <= 1,
        "kid_real_vs_real": lambda v: abs(v) < 0.5,
    },
    "06_applications": {
        "slerp_mid_norm": lambda v: abs(v - 1) < 0.05,             # slerp stays on the noise shell ...
        "lerp_mid_norm": lambda v: v < 0.85,                       # ... the straight line leaves it
        "art_guidance_accuracy": lambda v: v[0] < 0.4 and v[-1] >= 0.8,
        "aug_generated_accuracy": lambda v: v >= 0.9,              # the added digits are the right ones
        "inpaint_known_max_error": lambda v: v < 1e-5,             # RePaint keeps the known pixels
        "inpaint_random_accuracy": lambda v: v >= 0.5,
        "inpaint_random_meanfill_accuracy": lambda v: 0 <= v <= 1,   # (the judge, trained on hidden patches, reads some)
        "restore_input_readable": lambda v: v is False,            # the damage leaves the judge something to restore
        "restore_accuracy_best": lambda v: 0 <= v <= 1,
        "text_heldout_read_accuracy": lambda v: v >= 0.7,          # unseen wordings of one-digit prompts
        "text_end_to_end_accuracy": lambda v: v >= 0.7,
    },
    "07_improvements": {
        "cfg_accuracy": lambda v: v[-1] >= 0.8 and v[-1] >= v[0] - 0.05,   # w = 3 reads at least as well as w = 1
        "cfg_diversity": lambda v: v[-1] < v[0],                   # ... with samples more alike
        "cfg_window_nfe": lambda v: all(8 < k < 16 for k in v),    # quick: 8 steps, 16 passes if guided at all
        "attn_params": lambda v: all(a < b for a, b in zip(v, v[1:])),   # attention adds parameters
        "attn_steps": lambda v: v >= 1,                            # every variant trains the same steps
        "attn_train_seconds": lambda v: v[-1] > v[0],              # attention at 14x14 costs time
        "cifar_side_ratio": lambda v: abs(v - 32 / 28) < 1e-4,    # 32 against 28 pixels a side (recorded to 6 digits)
        "other_dataset": lambda v: v == "fashion",
        "other_available": lambda v: v is True,                    # scripts/setup.sh installs dataset-fashion-mnist
        "cifar10_available": lambda v: v in (True, False),
        "rgb32_colour_by_sampler": lambda v: set(v) == {"ddim", "ddpm"} and all(0 <= a <= 1 for a in v.values()),
        "rgb32_lit": lambda v: 0.05 < v["real"] < 0.3 and all(0 <= a <= 1 for a in v.values()),   # discs: ~17% lit
    },
}


# metrics that need a Debian package: notebook stem -> (keys, folder the package installs, apt line)
NEEDS_PACKAGE = {
    "07_improvements": (("other_available", "other_dataset"), DEBIAN_FASHION,
                        "apt-get install dataset-fashion-mnist"),
}

CHECK_OUTPUT = "# NBVAL_CHECK_OUTPUT"   # the marker nbval used; the notebooks keep it


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def _code_cells(nb: dict) -> list:
    """The code cells, without papermill's injected-parameters cell."""
    return [c for c in nb["cells"] if c["cell_type"] == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]


def checked_outputs(cell: dict) -> list:
    """The text a checked cell shows, in order: ("stdout"/"stderr", text) for each run of stream
    output, ("text/markdown" or "text/plain", text) for each display or result (markdown when the
    output has it); images and other data are left out. Trailing whitespace is ignored."""
    shown = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream":
            if shown and shown[-1][0] == o["name"]:          # papermill may split a stream differently
                shown[-1] = (o["name"], shown[-1][1] + _text(o["text"]))
            else:
                shown.append((o["name"], _text(o["text"])))
        elif o["output_type"] in ("display_data", "execute_result"):
            mime = next((m for m in ("text/markdown", "text/plain") if m in o.get("data", {})), None)
            if mime:
                shown.append((mime, _text(o["data"][mime])))
        elif o["output_type"] == "error":
            shown.append(("error", f"{o.get('ename')}: {o.get('evalue')}"))
    return [(kind, "\n".join(line.rstrip() for line in text.rstrip().splitlines())) for kind, text in shown]


def compare_checked_outputs(name: str, stored: dict, executed: dict):
    """Every code cell of `stored` whose source holds CHECK_OUTPUT must show the same text in
    `executed` (cells matched by position among the code cells)."""
    stored_cells, executed_cells = _code_cells(stored), _code_cells(executed)
    assert len(stored_cells) == len(executed_cells), \
        f"{name}: {len(executed_cells)} code cells executed, {len(stored_cells)} stored"
    for i, (want, got) in enumerate(zip(stored_cells, executed_cells)):
        source = _text(want["source"])
        if CHECK_OUTPUT not in source:
            continue
        first = next((line for line in source.splitlines() if line.strip() and not line.startswith("#")), "")
        where = f"{name}, code cell {i + 1} ({first.strip()[:60]!r})"
        assert _text(got["source"]) == source, f"{where}: the executed cell's source differs from the stored one"
        want_out, got_out = checked_outputs(want), checked_outputs(got)
        assert [k for k, _ in got_out] == [k for k, _ in want_out], \
            f"{where} is marked {CHECK_OUTPUT!r}: outputs {[k for k, _ in got_out]} differ from the stored {[k for k, _ in want_out]}"
        for j, ((kind, w), (_, g)) in enumerate(zip(want_out, got_out)):
            assert g == w, (f"{where} is marked {CHECK_OUTPUT!r}: its output {j + 1} ({kind}) differs from "
                            f"the one stored in the notebook\n--- stored\n{w}\n--- executed now\n{g}")


def expected_checks(path: Path) -> dict:
    """EXPECT's checks for the notebook at `path`, less those whose Debian package is missing here
    (with a warning naming the apt-get line: the notebook still runs, and its other checks hold)."""
    expect = dict(EXPECT.get(path.stem, {}))
    keys, folder, apt = NEEDS_PACKAGE.get(path.stem, ((), None, None))
    if keys and not folder.is_dir():
        for key in keys:
            expect.pop(key, None)
        warnings.warn(f"{path.name}: {folder} is missing, so {', '.join(keys)} went unchecked; "
                      f"`{apt}` (Debian/Ubuntu; bash scripts/setup.sh does it as root or with sudo) installs it")
    return expect


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, tmp_path):
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), parameters={"quick": True}, cwd=str(path.parent),
                        kernel_name="python3", progress_bar=False)
    compare_checked_outputs(path.name, json.loads(path.read_text()), json.loads(out.read_text()))
    metrics = read_metrics(out)
    assert metrics, f"{path.name} recorded no metrics"
    for key, ok in expected_checks(path).items():
        assert key in metrics, f"{path.name} did not record {key!r}"
        assert ok(metrics[key]), f"{path.name}: {key} = {metrics[key]!r} fails its check"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_has_outputs_and_no_errors(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), \
        f"{path.name} has no cell tagged 'parameters'"
    injected = [c for c in cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert not injected, (f"{path.name} keeps papermill's injected parameters (a student would run them, and "
                          f"the {CHECK_OUTPUT} comparison matches code cells without them)")
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c.get("outputs") is not None for c in code)
    assert any(c.get("outputs") for c in code), f"{path.name} is committed without outputs"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} has a stored error: {errors[0].get('ename')}"
    assert read_metrics(nb), f"{path.name}'s committed outputs record no metrics"
    echoed = [c for c in code if any(o.get("metadata", {}).get(METRICS_KEY) for o in c.get("outputs", []))
              and any(o.get("output_type") == "execute_result"          # record(...) as a cell's last line
                      and _text(o.get("data", {}).get("text/plain", "")).startswith("{") for o in c.get("outputs", []))]
    assert not echoed, f"{path.name} shows recorded metrics twice (table and dict): {echoed[0]['source'][-1]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_papermill_sees_every_parameter(path):
    """`papermill --help-notebook` and graders' -p overrides rely on papermill parsing each line of
    the parameters cell; a comment it cannot parse (e.g. one holding '=') hides that parameter."""
    from papermill.translators import PythonTranslator
    cell = next(c for c in json.loads(path.read_text())["cells"]
                if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"])
    assigned = {line.split("=")[0].split(":")[0].strip() for line in source.splitlines()
                if line and not line[0].isspace() and not line.startswith("#") and "=" in line.split("#")[0]}
    inferred = {p.name for p in PythonTranslator.inspect({"source": source})}
    assert assigned <= inferred, f"{path.name}: papermill cannot parse the line(s) of {sorted(assigned - inferred)}"
