"""The benchmark scripts run end to end (a few seconds of training, a handful of digits); their
figures belong to benchmarks/RESULTS.md, not to a test."""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

import helpers.train
from helpers import Trainer, UNetConfig

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    if str(BENCH) not in sys.path:                 # as when run as a script: siblings import each other
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class StepClock:
    """A stand-in for the trainer's `time` module: each reading is 0.25 s later than the last, so a
    training budget in minutes ends after a fixed number of steps."""
    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 0.25
        return self.now


def test_bench_recipes_prints_both_tables_and_the_ratios(monkeypatch, capsys):
    bench = load("bench_recipes")
    tiny = UNetConfig(base=8, mults=(1, 2))
    monkeypatch.setattr(bench, "UNetConfig", lambda: tiny)
    for name, steps in (("baseline", 4), ("ours", 2)):     # a 4-step "1000-step" sampler keeps it quick
        sampler, _, guidance, bf16 = bench.RECIPES[name]["samplers"][0]
        auto = [("ddim", 3, 2.0, True, 0.5)] if name == "ours" else []
        monkeypatch.setitem(bench.RECIPES[name], "samplers", [(sampler, steps, guidance, bf16), ("ddim", 3, 1.0, True),
                                                               *auto])
    monkeypatch.setattr(helpers.train, "time", StepClock())   # budgets of 5 and 10 steps, however busy the CPU
    monkeypatch.setattr(sys, "argv", ["bench_recipes.py", "--budgets", "0.02", "0.04", "--n", "20"])
    bench.main()
    out = capsys.readouterr().out
    for name in ("baseline", "ours"):                   # a progress line and a table row per budget
        assert [out.count(f"| {name} | {m} min |") for m in ("0.02", "0.04")] == [1, 1]
        assert [out.count(f"| {name} | {m} | ") for m in ("0.02", "0.04")] == [1, 1]
    assert "| ours | ddim | 3 | CFG | 1 | 3 |" in out and "| baseline | ddpm | 4 | CFG | 1 | 4 |" in out
    assert "| ours | ddim | 3 | auto 1/2 | 2 | 6 |" in out          # guided by the EMA kept half-way
    assert "time to 98% accuracy" in out and "evaluations per image for 98%" in out


def test_bench_recipes_restarts_a_recipe_whose_learning_rate_decays_over_the_budget(monkeypatch):
    bench = load("bench_recipes")
    assert bench.RECIPES["ours"]["train"].decay_over_time and not bench.RECIPES["baseline"]["train"].decay_over_time
    monkeypatch.setattr(bench, "UNetConfig", lambda: UNetConfig(base=8, mults=(1, 2)))
    monkeypatch.setattr(bench, "score", lambda *a: dict.fromkeys(bench.KEYS, 1.0) | {"digits_per_s": 1.0})
    built = []

    class CountingTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(bench, "Trainer", CountingTrainer)
    for name, trainers in (("baseline", 1), ("ours", 3)):
        built.clear()
        rows, trainer, _ = bench.train_rows(name, bench.RECIPES[name], [0.005, 0.01, 0.015], 20)
        assert len(built) == trainers and trainer is built[-1] and len(rows) == 3


def test_bench_recipes_rejects_decreasing_budgets(monkeypatch):
    bench = load("bench_recipes")
    monkeypatch.setattr(sys, "argv", ["bench_recipes.py", "--budgets", "5", "2"])
    with pytest.raises(SystemExit):
        bench.main()


def test_bench_short_budget_scores_ema_and_raw_weights_of_a_variant(monkeypatch, capsys):
    bench = load("bench_short_budget")
    monkeypatch.setitem(bench.VARIANTS, "tiny", (dict(base=8, mults=(1, 2)), dict(batch_size=16)))
    monkeypatch.setattr(sys, "argv", ["bench_short_budget.py", "--variants", "tiny", "--minutes", "0.01",
                                      "--n", "20", "--guidance", "1", "2"])
    bench.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny |")]
    assert [r.split(" | ")[3:5] for r in rows] == [["EMA", "1"], ["EMA", "2"], ["raw", "1"], ["raw", "2"]]


def test_bench_core_measures_training_and_sampling_rates_and_warm_up_time():
    bench = load("bench_core")
    tiny = UNetConfig(base=8, mults=(1, 2))
    for rate, warmup in (bench.train_throughput(bench.UNet(tiny), True, batch=8, steps=2),
                         bench.forward_throughput(bench.UNet(tiny).eval(), batch=8, calls=2)):
        assert rate > 0 and warmup > 0


def test_bench_shipped_prints_one_row_per_guidance_scale(monkeypatch, capsys):
    """The real-digit spread first, then one row per scale; with 2 steps (t = 999, 499) and guidance only
    at t <= 500, a guided run costs 1 + 2 network evaluations per image."""
    bench = load("bench_shipped")
    monkeypatch.setattr(sys, "argv", ["bench_shipped.py", "--n", "20", "--steps", "2", "--guidance", "1", "2",
                                      "--interval", "0", "500", "--reference-seeds", "2"])
    bench.main()
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r[0] for r in rows] == ["| pair", "| test vs test (disjoint)", "| train vs the test reference",
                                    "| guidance", "| 1", "| 2"]
    assert all(0 < float(v) for r in rows[1:3] for v in r[1:4])
    assert [r[1] for r in rows[4:]] == ["2", "3"] and all(0 <= float(r[2]) <= 1 for r in rows[4:])
    assert rows[3][6] == "real ratio" and all(float(r[6]) > 0 for r in rows[4:])
    assert rows[3][8] == "ink" and all(float(r[8]) > 0 for r in rows[4:])   # generated ink / real ink
    assert rows[3][10] == "s per 100 digits |" and all(float(r[10].rstrip(" |")) > 0 for r in rows[4:])


def test_bench_shipped_real_ink_weights_every_digit_equally():
    bench = load("bench_shipped")
    x, y = bench.mnist_tensors("test")
    per_digit = [x[y == d].add(1).div(2).mean().item() for d in range(10)]
    assert bench.real_ink() == pytest.approx(sum(per_digit) / 10)
    assert abs(bench.real_ink() - x.add(1).div(2).mean().item()) > 1e-4   # the test set is not balanced


def test_bench_shipped_fp32_samples_without_autocast(monkeypatch, capsys):
    bench = load("bench_shipped")
    seen = []
    fake = dict(accuracy=1.0, fd=1.0, fd_real=1.0, fd_ratio=1.0, real_ratio=1.0, kid=0.0, ink=0.13, digits_per_s=1.0)
    monkeypatch.setattr(bench, "score", lambda *a: seen.append(a[5]) or fake)
    monkeypatch.setattr(bench, "seconds_for_100", lambda *a, **k: seen.append(a[5]) or 1.0)
    for argv in ([], ["--fp32"]):
        monkeypatch.setattr(sys, "argv", ["bench_shipped.py", "--guidance", "1.5", "--reference-seeds", "0", *argv])
        bench.main()
    assert seen == [True, True, False, False]            # the bf16 argument of score() and of the timing
    out = capsys.readouterr().out
    assert "bf16 autocast; ink" in out and "fp32; ink" in out


def test_bench_core_leaves_the_precision_choice_as_it_found_it(monkeypatch):
    bench = load("bench_core")
    monkeypatch.delenv("COURSE_BF16", raising=False)
    bench.train_throughput(bench.UNet(UNetConfig(base=8, mults=(1, 2))), True, batch=4, steps=1)
    assert "COURSE_BF16" not in os.environ


def test_bench_judge_prints_the_targets(monkeypatch, capsys):
    bench = load("bench_judge")
    monkeypatch.setattr(sys, "argv", ["bench_judge.py", "--n", "300"])
    rc = bench.main()
    out = capsys.readouterr().out
    assert '"not a digit"' in out and "≥ 99.3%" in out and out.count("| yes |") + out.count("| NO |") == 5
    assert rc == (1 if "| NO |" in out else 0)


def test_bench_fast_prints_one_row_per_chosen_setting(monkeypatch, capsys, tmp_path):
    """Each row: its network calls (a guided step counts 2, a distilled one 1), accuracy, the medians of
    the distances and the real ratio, and the time of 100 digits."""
    bench = load("bench_fast")
    tiny = Trainer(UNetConfig(base=8, mults=(1, 2)), dict(sample_steps=0), device="cpu")
    path = tiny.save(tmp_path / "tiny_fast.pt", slim=True, sampling={"guidance": 1.0, "sampler": "ddim", "steps": 4})
    monkeypatch.setattr(sys, "argv", ["bench_fast.py", "--n", "20", "--reference-seeds", "2", "--fast", str(path),
                                      "--rows", "shipped-2", "fast-1"])
    bench.main()
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0][5] == "calls" and rows[0][10] == "real ratio"
    assert [r[0] for r in rows[1:]] == ["| shipped-2", "| fast-1"] and [r[5] for r in rows[1:]] == ["4", "1"]
    for r in rows[1:]:
        assert 0 <= float(r[6]) <= 1 and float(r[6]) + float(r[7]) <= 1 + 1e-9     # accuracy, abstained
        assert all(float(v) > 0 for v in r[8:11]) and float(r[12].rstrip(" |")) > 0
