"""Real-browser checks (pytest markers `browser` and `slow`): headless Debian Chromium driven by Playwright.

1. An exported HTML file's kernel-free scrubber (matplotlib's to_jshtml animation) changes frames
   when its controls are used, with no kernel and no network: the fixture notebook
   tests/fixtures/jshtml_animation.ipynb graded by helpers.grade, and the committed notebooks 01
   and 04 when they exist.
2. In JupyterLab, moving an ipywidgets slider redraws the image it drives and its readout:
   tests/fixtures/slider.ipynb, notebooks/01_forward_diffusion.ipynb (forward process) and
   notebooks/04_reverse_diffusion.ipynb (reverse trajectory) when they exist.

Needs `apt-get install chromium chromium-driver` (scripts/setup.sh does it where it can) and
`pip install playwright` (never `playwright install`: the test uses Debian's /usr/bin/chromium);
skipped, with a message naming what to install, without them.
"""
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from grading import notebooks as grade
from helpers.checkpoint import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
NO_CHROMIUM = (f"{CHROMIUM} not found: apt-get install chromium chromium-driver "
               "(Debian/Ubuntu; bash scripts/setup.sh does it as root or with sudo)")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
LAB_START_S = 120      # JupyterLab answering its REST API
RUN_CELLS_S = {"fixture": 90, "notebook 01": 240, "notebook 04": 240}  # running the cells up to the slider
REDRAW_S = 30          # a slider move until the new image is shown


# browser --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="pip install playwright (see requirements.txt)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def offline_page(browser, allowed=("file:", "data:", "blob:")):
    """A page whose requests outside `allowed` are refused (the exports link CDN scripts)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(allowed)
                  else route.abort())
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def image_difference(png_a: bytes, png_b: bytes) -> float:
    """Mean absolute pixel difference in [0, 1] of two screenshots (1 when the sizes differ)."""
    import numpy as np
    from PIL import Image
    a, b = (np.asarray(Image.open(io.BytesIO(x)).convert("L"), dtype=float) / 255
            for x in (png_a, png_b))
    return 1.0 if a.shape != b.shape else float(np.abs(a - b).mean())


def wait_until(predicate, timeout_s: float, what: str, poll_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


# 1. kernel-free scrubber in an HTML export ----------------------------------------------------

def _exported_fixture(tmp_path: Path) -> Path:
    """Grade a fake checkout holding the jshtml fixture; return its HTML export."""
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    shutil.copy(FIXTURES / "jshtml_animation.ipynb", repo / "notebooks" / "01_scrubber.ipynb")
    out = tmp_path / "out"
    assert grade.main(["--repo", str(repo), "--out", str(out), "--timeout", "300"]) == 0
    return out / "01_scrubber.html"


def _exported_course_notebook(tmp_path: Path, prefix: str) -> Path:
    """The committed notebooks/<prefix>_*.ipynb (with its stored outputs) exported to HTML."""
    found = sorted((ROOT / "notebooks").glob(f"{prefix}_*.ipynb"))
    if not found:
        pytest.skip(f"notebooks/{prefix}_*.ipynb does not exist yet")
    return grade.export_html(found[0], tmp_path / f"{found[0].stem}.html")


@pytest.mark.parametrize("source", ["fixture", "01", "04"])
def test_exported_scrubber_changes_frames_without_a_kernel(browser, tmp_path, source):
    html = (_exported_fixture(tmp_path) if source == "fixture"
            else _exported_course_notebook(tmp_path, source))
    with offline_page(browser) as page:
        page.goto(html.as_uri())
        animations = page.locator("div.animation")
        assert animations.count() > 0, \
            f"{html.name} has no kernel-free scrubber (to_jshtml): is it saved with its outputs?"
        for k in range(animations.count()):
            anim = animations.nth(k)
            img, slider = anim.locator("img[id^=_anim_img]"), anim.locator("input[id^=_anim_slider]")
            anim.scroll_into_view_if_needed()
            wait_until(lambda: img.get_attribute("src"), 10, f"scrubber {k}'s first frame")
            src_0, shot_0 = img.get_attribute("src"), img.screenshot()
            assert int(slider.get_attribute("max")) >= 1, f"scrubber {k} has a single frame"
            if source != "fixture":  # the course's scrubbers (helpers.plots) label their buttons offline
                blank = [b.get_attribute("title") for b in anim.locator("button").all() if not b.inner_text().strip()]
                assert not blank, f"scrubber {k}'s buttons {blank} show nothing offline (icon font from a CDN?)"

            anim.locator("button[title='Next frame']").click()
            wait_until(lambda: img.get_attribute("src") != src_0, 10, "the next frame")
            assert slider.input_value() == "1"
            slider.focus()
            page.keyboard.press("End")  # as a reader would with the range input
            wait_until(lambda: slider.input_value() == slider.get_attribute("max"), 10,
                       "the slider at its last frame")
            src_n, shot_n = img.get_attribute("src"), img.screenshot()
            assert src_n not in (src_0, None)
            assert image_difference(shot_0, shot_n) > 1e-3, \
                f"scrubber {k}'s first and last frames look the same"


# 2. ipywidgets slider in JupyterLab -----------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_env(home: Path) -> dict:
    """Isolated Jupyter config (no announcements pop-up, no saved workspace, every cell rendered
    rather than only those scrolled to), inline figures, this checkout's helpers, quick mode."""
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), COURSE_QUICK="1",
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    env.pop("MPLBACKEND", None)
    return env


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """(base URL, token, notebook folder) of a JupyterLab on 127.0.0.1 that is always shut down."""
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    root.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True"]
    log = open(home / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=_lab_env(home), cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent())
    base = f"http://127.0.0.1:{port}"
    try:
        def answers():
            if proc.poll() is not None:
                raise AssertionError(f"JupyterLab exited: {(home / 'jupyterlab.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_until(answers, LAB_START_S, "JupyterLab to start", poll_s=0.5)
        yield base, token, root
    finally:
        _shutdown(proc, base, token)
        log.close()


def _die_with_parent():
    """A preexec_fn asking Linux to SIGTERM the child when this process dies, so that even a killed
    pytest leaves no JupyterLab behind (its kernels follow their parent); None elsewhere."""
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not in the child
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _shutdown(proc: subprocess.Popen, base: str, token: str):
    """Ask the server to stop (it stops its kernels), then SIGTERM, then SIGKILL its group."""
    with contextlib.suppress(OSError):
        urllib.request.urlopen(urllib.request.Request(
            f"{base}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}),
            timeout=5).close()
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


def _slider_notebook(root: Path, which: str) -> str:
    """Copy the notebook into the server's folder without its stored outputs and widget state
    (a restored, kernel-less slider must not stand in for the live one)."""
    if which == "fixture":
        path = FIXTURES / "slider.ipynb"
    else:
        found = sorted((ROOT / "notebooks").glob(f"{which.split()[-1]}_*.ipynb"))
        if not found:
            pytest.skip(f"the {which} does not exist yet")
        path = found[0]
    nb = json.loads(path.read_text())
    nb["metadata"].pop("widgets", None)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    (root / path.name).write_text(json.dumps(nb))
    return path.name


# JavaScript run in the page, on the notebook panel opened from `path` (JupyterLab may restore
# other tabs, so never "the current widget"); needs --LabApp.expose_app_in_browser
PANEL = """(path) => window.jupyterapp && Array.from(window.jupyterapp.shell.widgets('main'))
                         .find(w => w.context && w.context.path === path)"""
PANEL_ID = f"(path) => {{ const p = ({PANEL})(path); return p ? p.id : null; }}"
KERNEL_IDLE = f"""(path) => {{
    const k = ({PANEL})(path)?.sessionContext?.session?.kernel;
    return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}}"""
CELL_ERROR = f"""(path) => {{
    for (const cell of ({PANEL})(path).content.widgets) {{
        if (cell.model.type !== 'code') continue;
        for (const o of cell.model.outputs.toJSON())
            if (o.output_type === 'error') return `${{o.ename}}: ${{o.evalue}}`;
    }}
    return null;
}}"""
RUN_UP_TO = f"""([path, i]) => {{
    const app = window.jupyterapp, panel = ({PANEL})(path);
    app.shell.activateById(panel.id);
    panel.content.activeCellIndex = i;
    app.commands.execute('notebook:run-all-above').then(() => app.commands.execute('notebook:run-cell'));
}}"""


def _accept_kernel_dialog(page, wait_s: float = 3):
    """Accept a 'Select Kernel' dialog if JupyterLab shows one (its default is Python 3)."""
    accept = page.locator(".jp-Dialog .jp-mod-accept")
    with contextlib.suppress(Exception):
        accept.wait_for(state="visible", timeout=wait_s * 1000)
        accept.click()


def _raise_on_cell_error(page, name: str):
    error = page.evaluate(CELL_ERROR, name)
    if error:
        raise AssertionError(f"running {name} in JupyterLab stopped at an error: {error}")


SLIDER_CALL = re.compile(r"\b(\w*Slider|interact|\w*_slider)\s*\(")


def slider_cell_index(notebook: Path) -> int:
    """Index of the first code cell that builds a slider (IntSlider(...), interact(...),
    forward_slider(...))."""
    cells = json.loads(notebook.read_text())["cells"]
    for i, cell in enumerate(cells):
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and SLIDER_CALL.search(src):
            return i
    raise AssertionError(f"{notebook.name} has no cell that builds an ipywidgets slider")


def drive_slider(browser, base: str, token: str, name: str, cell_index: int, run_s: float) -> dict:
    """Open notebook `name` in JupyterLab, run its cells up to the slider cell, press End (or Home)
    on the slider; returns its readout and a screenshot of the image in its cell, before and after."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", lambda route: route.continue_()  # only the local server, no CDN
                  if route.request.url.startswith((base, "data:", "blob:")) else route.abort())
    page = context.new_page()
    try:
        workspace = f"w{secrets.token_hex(4)}"  # a fresh layout: no tabs of earlier tests
        page.goto(f"{base}/lab/workspaces/{workspace}/tree/{name}?token={token}", timeout=60_000)
        page.wait_for_function(PANEL_ID, arg=name, timeout=60_000)
        page.wait_for_function(KERNEL_IDLE, arg=name, timeout=LAB_START_S * 1000)
        page.evaluate(RUN_UP_TO, [name, cell_index])
        _accept_kernel_dialog(page)

        # the slider, and the last image in the same cell's output, once drawn
        notebook = page.locator(f'[id="{page.evaluate(PANEL_ID, name)}"] .jp-Notebook')
        slider = notebook.locator(".widget-slider").first
        wait_until(lambda: _raise_on_cell_error(page, name) or slider.is_visible(), run_s,
                   f"{name}'s slider (running cells 1-{cell_index + 1})", poll_s=1)
        page.wait_for_function(KERNEL_IDLE, arg=name, timeout=run_s * 1000)  # free to redraw
        cell = notebook.locator(".jp-Cell").filter(has=page.locator(".widget-slider")).first
        img, readout = cell.locator(".jp-OutputArea-output img").last, slider.locator(".widget-readout")
        img.wait_for(state="visible", timeout=REDRAW_S * 1000)
        img.scroll_into_view_if_needed()
        before = {"readout": readout.inner_text(), "src": img.get_attribute("src"),
                  "shot": img.screenshot()}

        handle = slider.locator(".noUi-handle").first
        at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        handle.focus()
        page.keyboard.press("Home" if at_max else "End")  # noUiSlider's keyboard support
        wait_until(lambda: readout.inner_text() != before["readout"], REDRAW_S, "the readout to change")
        wait_until(lambda: img.count() and img.is_visible() and img.get_attribute("src") != before["src"],
                   REDRAW_S, "the image to be redrawn")
        img.scroll_into_view_if_needed()
        after = {"readout": readout.inner_text(), "src": img.get_attribute("src"), "shot": img.screenshot()}
        return {"before": before, "after": after}
    finally:
        context.close()


@pytest.mark.parametrize("which", ["fixture", "notebook 01", "notebook 04"])
def test_moving_the_slider_redraws_the_image_in_jupyterlab(browser, jupyterlab, which):
    base, token, root = jupyterlab
    name = _slider_notebook(root, which)
    seen = drive_slider(browser, base, token, name, slider_cell_index(root / name), RUN_CELLS_S[which])
    before, after = seen["before"], seen["after"]
    assert after["readout"] != before["readout"]
    assert image_difference(before["shot"], after["shot"]) > 1e-3, \
        f"{name}: the image did not change when the slider moved {before['readout']} -> {after['readout']}"
