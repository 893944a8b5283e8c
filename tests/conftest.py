import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_QUICK", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
