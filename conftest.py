"""Shared by tests/ and by nbval's run over notebooks/: quick mode and a headless plotting backend."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_QUICK", "1")
