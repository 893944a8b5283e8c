"""`python -m helpers.grade`: the teacher's grading command (it lives in the top-level `grading` package)."""
import signal
import sys

from grading.notebooks import main

if __name__ == "__main__":
    # a SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the running notebook is stopped too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.exit(main())
