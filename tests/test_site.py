"""Build the website as `make book` does, then read every page, and open it in a real browser.

The build runs once per test session into a temporary folder, with warnings as errors. The browser
part needs Debian's `chromium` (installed by .ci/run); it is skipped where no chromium is found.
"""

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
PAGES = [TOC["root"]] + [c["file"] for part in TOC["parts"] for c in part["chapters"]]
LOCAL_MARKERS = [str(ROOT), str(Path.home()), "site-packages", "/tmp/"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT),
               "--path-output", str(out), "--all", "-W", "-n", "--keep-going"]
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # figures need the inline backend
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    warnings = [line for line in log.splitlines() if "WARNING" in line and "IPKernelApp" not in line]
    assert not warnings, "\n".join(warnings)
    return out / "_build" / "html"


def html(site, page):
    return (site / f"{page}.html").read_text()


@pytest.mark.parametrize("page", PAGES)
def test_page_is_built_with_a_title(site, page):
    title = re.search(r"<title>(.*?)</title>", html(site, page), re.S)
    assert title and title.group(1).strip()


@pytest.mark.parametrize("page", PAGES)
def test_page_images_and_links_resolve(site, page):
    text, folder = html(site, page), (site / page).parent
    for src in re.findall(r'<img[^>]+src="([^"]+)"', text):
        if not src.startswith(("http", "data:")):
            assert (folder / src).resolve().exists(), f"{page}: missing image {src}"
    for href in re.findall(r'href="([^"#:?]+\.html)[^"]*"', text):
        assert (folder / href).resolve().exists(), f"{page}: broken link {href}"


@pytest.mark.parametrize("page", PAGES)
def test_page_says_nothing_about_this_machine(site, page):
    text = html(site, page)
    for marker in LOCAL_MARKERS:
        assert marker not in text, f"{page} contains the local path {marker!r}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.startswith("notebooks/")])
def test_chapter_shows_figures_and_equations(site, page):
    text = html(site, page)
    assert len(re.findall(r'<img[^>]+src="[^"]*_images/', text)) >= 2, f"{page}: fewer than 2 figures"
    assert 'class="math' in text, f"{page}: no math"


# In the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_page(site):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ.setdefault("PLAYWRIGHT_SKIP_VALIDATE_HOST_REQUIREMENTS", "1")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield browser.new_page(), f"http://127.0.0.1:{server.server_address[1]}"
        browser.close()
    server.shutdown()


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_a_browser(browser_page, page):
    tab, base = browser_page
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    response = tab.goto(f"{base}/{page}.html", wait_until="load")
    assert response.ok
    assert tab.title().strip()
    broken = tab.evaluate(
        "[...document.images].filter(i => i.complete && i.naturalWidth === 0).map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"
    math_nodes = tab.locator(".math").count()
    if math_nodes:
        tab.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        tab.evaluate("MathJax.startup.promise")
        assert tab.locator("mjx-container").count() >= math_nodes, "some equations not typeset"
        assert tab.locator("mjx-merror").count() == 0, "MathJax reported an error"
        assert tab.locator('mjx-mtext[style*="color: red"]').count() == 0, "undefined TeX macro"
    assert not errors, f"JavaScript errors: {errors}"
