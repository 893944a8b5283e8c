"""Run a student's code where it can do little harm: Linux namespaces through `unshare`, as root.

    cmd = sandbox.wrap(cmd, writable=[scratch], hide=[reference])

gives the command its own mount namespace in which every file system is read-only except the
`writable` folders, the `hide` folders are covered by an empty tmpfs (the reference course: its
solutions and hidden checks cannot be read), its own network namespace (only a loopback, for
Jupyter's kernel sockets) and its own PID namespace (when the command ends, every process it
started ends with it: nothing survives to read what the next step writes). Without root or
`unshare`, `available()` says why and `wrap` returns the command unchanged: the caller reports it.
"""
import os
import resource
import shlex
import shutil
import subprocess
import tempfile
from functools import lru_cache

_SCRIPT = """set -e
mount --make-rprivate /
{hide}
{bind}
awk '{{print $2}}' /proc/self/mounts | sort -u | while read -r m; do
  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*{keep}) ;;
    *) mount -o remount,ro,bind "$m" 2>/dev/null || true ;; esac
done
ip link set lo up 2>/dev/null || true
exec "$@"
"""


def script(writable, hide) -> str:
    q = [shlex.quote(str(p)) for p in writable]
    h = [shlex.quote(str(p)) for p in hide]
    return _SCRIPT.format(hide="\n".join(f"mount -t tmpfs -o size=1m,mode=755 none {p}" for p in h),
                          bind="\n".join(f"mount --bind {p} {p}" for p in q),
                          keep="".join(f"|{p}" for p in q + h))


def wrap(cmd: list, writable=(), hide=()) -> list:
    """cmd inside fresh mount, network and PID namespaces (see the module docstring), or cmd itself
    where that is not available."""
    if not available()[0]:
        return list(cmd)
    return ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "sh", "-c",
            script(writable, hide), "sandbox", *map(str, cmd)]


@lru_cache(maxsize=1)
def available() -> "tuple[bool, str]":
    """(True, 'ok') where wrap isolates, else (False, why not)."""
    if os.environ.get("COURSE_NO_SANDBOX") == "1":
        return False, "switched off (COURSE_NO_SANDBOX=1)"
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False, "it needs root, unshare (util-linux) and ip (iproute2)"
    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as hidden:
        open(os.path.join(hidden, "secret"), "w").close()
        probe = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "sh", "-c", script([d], [hidden]),
                 "sandbox", "sh", "-c", f"touch {d}/ok && ! ls {hidden}/secret 2>/dev/null && ! touch /probe-{os.getpid()}"]
        run = subprocess.run(probe, capture_output=True, text=True)
        ok = run.returncode == 0 and os.path.exists(os.path.join(d, "ok"))
    return ok, "ok" if ok else f"unshare failed: {run.stderr.strip()[-200:]}"


def limits(memory_gb: float, cpu_s: "int | None" = None, new_session: bool = True):
    """A preexec_fn: its own session (so the caller can kill the process group), an address-space
    limit and optionally a CPU-time limit, each at most the hard limit this process already has."""
    def clamp(kind, value):
        hard = resource.getrlimit(kind)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))

    def apply():
        if new_session:
            os.setsid()
        clamp(resource.RLIMIT_AS, int(memory_gb * 2 ** 30))
        if cpu_s:
            clamp(resource.RLIMIT_CPU, int(cpu_s))
    return apply


def kill_group(proc, grace: float = 0.0):
    """Stop proc's process group (a session of its own): SIGTERM and up to `grace` seconds for proc to
    exit, then SIGKILL for whatever is left; reaps proc."""
    import signal
    import subprocess
    if grace:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
