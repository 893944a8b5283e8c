"""`python -m helpers.grade`: the teacher's grading command (it lives in the top-level `grading` package).

With --submissions DIR (a class) or --merge-manual OUT: grading.classroom; otherwise one checkout's
notebooks: grading.notebooks."""
import signal
import sys

if __name__ == "__main__":
    # a SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the running notebook is stopped too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    argv = sys.argv[1:]
    if any(a.split("=")[0] in ("--submissions", "--merge-manual") for a in argv):
        from grading.classroom import main
    else:
        from grading.notebooks import main
    sys.exit(main(argv))
