"""`python -m helpers.assign --out DIR`: write the student edition (grading/release.py does the work)."""
import argparse
import sys

from grading.release import ReleaseError, release


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.assign",
                                     description="Write the student edition of the course to --out.")
    parser.add_argument("--out", required=True, help="a new folder outside the course")
    parser.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    args = parser.parse_args(argv)
    try:
        done = release(args.out, force=args.force)
    except ReleaseError as e:
        print(f"helpers.assign: {e}", file=sys.stderr)
        return 2
    print(f"Wrote the student edition to {args.out}: {done['files']} files, {len(done['notebooks'])} notebooks, "
          f"{len(done['stubs'])} tasks stubbed ({', '.join(done['stubs'])}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
