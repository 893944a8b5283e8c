"""How fast a class is graded: the synthetic class of tests/fixtures/classroom.py (the finished, untouched
and partial submissions and the hostile ones), quick mode, graded with --jobs 1 and then --jobs 2 in one
run; prints submissions per minute and the speed-up.

    python benchmarks/bench_grading.py [--only 01] [--submissions 12]

--only limits the notebooks each submission runs (default: notebook 01; "all" for every notebook).
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.classroom import make_class  # noqa: E402
from grading import sandbox  # noqa: E402
from grading.release import release  # noqa: E402
from helpers.unet import machine  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="+", default=["01"], help='notebooks per submission ("all": every one)')
    p.add_argument("--submissions", type=int, default=12, help="how many of the class to grade (default 12)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        release(base / "edition")
        made = make_class(base / "edition", base / "all", base / "canary", base / "out1")
        names = sorted(made)[:args.submissions]
        (base / "class").mkdir()
        for name in names:
            (base / "class" / name).symlink_to(base / "all" / name)
        rows = []
        for jobs in (1, 2):
            cmd = [sys.executable, "-m", "helpers.grade", "--submissions", str(base / "class"), "--out",
                   str(base / f"out{jobs}"), "--quick", "--jobs", str(jobs), "--timeout", "120", "--memory-gb", "8",
                   "--samples-per-digit", "10"] + ([] if args.only == ["all"] else ["--only", *args.only])
            start = time.monotonic()
            run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            seconds = time.monotonic() - start
            rows.append((jobs, seconds, len(names) / seconds * 60, run.returncode))
    print(f"machine: {machine()}, {len(__import__('os').sched_getaffinity(0))} cores; sandbox "
          f"{'on' if sandbox.available()[0] else 'off'}; {len(names)} submissions ({', '.join(names)}); "
          f"notebooks: {' '.join(args.only)}; quick mode")
    print("| jobs | seconds | submissions per minute | exit code |\n|---|---|---|---|")
    for jobs, seconds, rate, rc in rows:
        print(f"| {jobs} | {seconds:.0f} | {rate:.2f} | {rc} |")
    print(f"speed-up with 2 jobs: {rows[0][1] / rows[1][1]:.2f}x (target 1.7x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
