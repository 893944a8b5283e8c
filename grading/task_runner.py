"""Run the assignment's tasks on seeded inputs and save what they return (a child process of grading.tasks).

    python grading/task_runner.py SUBMISSION REFERENCE SEED OUT.pt RUN TASK=MODULE:QUALNAME [...]

imports `helpers` from SUBMISSION (refusing any other copy), runs each task named in RUN (comma-separated,
or "all") on inputs
drawn from SEED, and saves {task: {name: tensor}} or {task: {"error": ..., "message": ...}} to OUT.pt.
While one task runs, the others are the reference's (the `helpers` of REFERENCE, loaded as
`reference_helpers`), so a gap in one task does not fail the tasks built on it. It judges
nothing: grading.tasks compares these outputs with the reference's.
"""
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path

import torch


def seeded_weights(module: torch.nn.Module, g: torch.Generator, std: float = 0.1):
    """Overwrite every parameter (in name order) with seeded normal values: the same weights in any process."""
    with torch.no_grad():
        for _, p in sorted(module.named_parameters()):
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module


def run_add_noise(h, g):
    s = h.schedule.NoiseSchedule(1000, "cosine")
    x0, eps = torch.rand((6, 1, 8, 8), generator=g) * 2 - 1, torch.randn((6, 1, 8, 8), generator=g)
    t = torch.tensor([0, 1, 250, 500, 998, 999])
    return {"per_image": s.add_noise(x0, eps, t), "scalar": s.add_noise(x0, eps, torch.tensor(500)),
            "x0": x0, "eps": eps, "t": t, "alpha_bar": s.alpha_bar[t]}


def run_time_embedding(h, g):
    t = torch.tensor([0, 1, 500, 999])
    return {f"dim{d}": h.unet.SinusoidalPosEmb(d)(t) for d in (16, 64)}


def run_res_block(h, g):
    out = {}
    for c_in, c_out in ((8, 8), (8, 16)):
        block = seeded_weights(h.unet.ResBlock(c_in, c_out, 16), g).eval()
        x, emb = torch.randn((2, c_in, 8, 8), generator=g), torch.randn((2, 16), generator=g)
        with torch.no_grad():
            out[f"{c_in}to{c_out}"] = block(x, emb)
    return out


def run_loss(h, g):
    s, out = h.schedule.NoiseSchedule(1000, "cosine"), {}
    for prediction in ("eps", "v"):
        model = seeded_weights(h.unet.UNet(h.unet.UNetConfig(image_size=8, base=8, mults=(1, 2),
                                                             prediction=prediction)), g).eval()
        x0, noise = torch.rand((4, 1, 8, 8), generator=g) * 2 - 1, torch.randn((4, 1, 8, 8), generator=g)
        y, t = torch.tensor([0, 3, 10, 7]), torch.tensor([0, 100, 600, 999])
        with torch.no_grad():
            for weighting in ("none", "min_snr"):
                out[f"{prediction}_{weighting}"] = h.train.diffusion_loss(model, s, x0, y, t, noise, weighting,
                                                                          reduce=False)
    return out


def _steps(sampler, g):
    out = {}
    for k in (0, 5, sampler.steps - 1):
        t = int(sampler.timesteps[k])
        x_t, eps = torch.randn((3, 1, 8, 8), generator=g), torch.randn((3, 1, 8, 8), generator=g)
        step = sampler.step(eps, t, x_t, generator=torch.Generator().manual_seed(k))
        out[f"x_prev_{k}"], out[f"x0_{k}"] = step.prev_sample, step.pred_x0
    return out


def run_ddpm_step(h, g):
    return _steps(h.samplers.DDPMSampler(h.schedule.NoiseSchedule(1000, "cosine")).set_timesteps(10), g)


def run_ddim_step(h, g):
    s = h.schedule.NoiseSchedule(1000, "cosine")
    return {f"eta{eta}_{k}": v for eta in (0.0, 0.5)
            for k, v in _steps(h.samplers.DDIMSampler(s, eta=eta).set_timesteps(10), g).items()}


def _digits(h, n, g):
    return h.data.random_subset(*h.data.mnist_tensors("test"), n, seed=int(torch.randint(0, 10 ** 6, (1,), generator=g)))


def run_clip_score(h, g):
    clip = h.clip.load_clip()
    x, y = _digits(h, 20, g)
    x01 = h.data.unnormalize_to_zero_to_one(x)
    return {"one_text": h.clip.clip_scores(clip, x01, "a handwritten digit"),
            "own_texts": h.clip.clip_scores(clip, x01, h.clip.prompts_for(y))}


def run_repaint_paste(h, g):
    pipe = h.pipeline.load_pipeline(device="cpu")
    denoiser = h.samplers.Denoiser(pipe.model, pipe.schedule, bf16=False)
    x0, y = _digits(h, 2, g)
    mask = h.applications.make_mask("random", 2, frac=0.5, seed=int(torch.randint(0, 1000, (1,), generator=g)))
    seed = int(torch.randint(0, 1000, (1,), generator=g))
    return {"filled": h.applications.inpaint(denoiser, x0, mask, y, steps=3, resample=2, seed=seed),
            "x0": x0, "mask": mask}


TASKS = {name[4:]: f for name, f in dict(globals()).items() if name.startswith("run_")}


def load_reference(root: Path):
    """REFERENCE's helpers as the package `reference_helpers` (its imports are relative)."""
    spec = importlib.util.spec_from_file_location("reference_helpers", root / "helpers" / "__init__.py",
                                                  submodule_search_locations=[str(root / "helpers")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference_helpers"] = module
    spec.loader.exec_module(module)
    return module


def owner(package: str, target: str):
    """(the object holding the attribute, its name) for target "module:Qual.name" in `package`."""
    module, qualname = target.split(":")
    obj = importlib.import_module(f"{package}.{module}")
    *path, name = qualname.split(".")
    for part in path:
        obj = getattr(obj, part)
    return obj, name


def main(argv) -> int:
    submission, reference, seed, out = Path(argv[0]).resolve(), Path(argv[1]).resolve(), int(argv[2]), Path(argv[3])
    targets = dict(a.split("=", 1) for a in argv[5:])
    run = list(targets) if argv[4] == "all" else argv[4].split(",")
    sys.path.insert(0, str(submission))
    try:
        import helpers
    except ImportError:
        helpers = None
    if helpers is None or submission not in Path(helpers.__file__ or "/").resolve().parents:
        torch.save({"_run": {"error": "ImportError", "message": f"{submission} has no helpers package of its own "
                                                                  f"(found {getattr(helpers, '__file__', None)})"}}, out)
        return 0
    for module in ("applications", "clip", "data", "pipeline", "samplers", "schedule", "train", "unet"):
        importlib.import_module(f"helpers.{module}")
    load_reference(reference)
    results = {}
    for task in run:
        g = torch.Generator().manual_seed(seed * 1000 + sorted(TASKS).index(task))
        others = [(*owner("helpers", t), getattr(*owner("reference_helpers", t))) for k, t in targets.items() if k != task]
        saved = [(obj, name, getattr(obj, name)) for obj, name, _ in others]
        try:
            for obj, name, ref in others:
                setattr(obj, name, ref)
            results[task] = {k: v.detach().float().cpu() for k, v in TASKS[task](helpers, g).items()}
        except BaseException as e:                  # a stub, a bug, or sys.exit inside student code
            frames = [f for f in traceback.extract_tb(e.__traceback__) if str(submission) in f.filename]
            where = f" ({Path(frames[-1].filename).relative_to(submission)}, line {frames[-1].lineno})" if frames else ""
            results[task] = {"error": type(e).__name__, "message": f"{e}{where}"}
        finally:
            for obj, name, mine in saved:
                setattr(obj, name, mine)
    torch.save(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
