"""Shared by every test (and the notebooks papermill runs from them): quick mode and a headless plotting backend."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_QUICK", "1")
