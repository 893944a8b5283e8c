"""helpers: the small library behind the diffusion course's notebooks.

    import helpers
    pipe = helpers.load_pipeline()                  # shipped class-conditional MNIST model
    x = pipe.sample([3, 1, 4], steps=50)            # (3, 1, 28, 28) in [0, 1]
"""
from .checkpoint import CheckpointError
from .data import mnist_dataset, mnist_tensors, random_subset
from .pipeline import DIGIT_NAMES, Pipeline, check_labels, load_pipeline
from .samplers import Denoiser, denoise, make_sampler, reverse
from .schedule import ModelPrediction, NoiseSchedule
from .train import Trainer, TrainConfig
from .unet import UNet, UNetConfig, count_parameters, pick_device

__all__ = ["load_pipeline", "Pipeline", "check_labels", "DIGIT_NAMES", "NoiseSchedule", "ModelPrediction",
           "UNet", "UNetConfig", "count_parameters", "Trainer", "TrainConfig", "Denoiser", "denoise", "reverse",
           "make_sampler", "mnist_tensors", "mnist_dataset", "random_subset", "CheckpointError", "pick_device"]
