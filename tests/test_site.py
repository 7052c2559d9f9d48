"""Build the website as `make book` does, then read every page, and open it in a real browser.

The build runs once per test session into a temporary folder, with warnings as errors. Its
notebook executions go through the book's execution cache (_build/.jupyter_cache, emptied by
book/_ext/execution_cache.py whenever the library, the requirements or the installed packages
change), so after `make book` this test does not run the chapters again; on a fresh clone it runs
them in parallel. The executed notebooks are kept in _build/test-runs/site/ for
tests/reproducibility_check.py.

The browser part needs Debian's `chromium` (installed by .ci/run); it is skipped, with a message
saying so, where no chromium is found. It saves screenshots of the landing page and of chapter 2 to
_build/screenshots/ (CI uploads them).

Every test here is marked `site`: `make test-lib` leaves them out.
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
PAGES = [TOC["root"]] + [c["file"] for part in TOC["parts"] for c in part["chapters"]]
CHAPTERS = [p for p in PAGES if p.startswith("notebooks/")]
REPO = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
LOCAL_MARKERS = [str(ROOT), str(Path.home()), "site-packages", "/tmp/"]
SCREENSHOTS = ROOT / "_build" / "screenshots"
EXECUTED = ROOT / "_build" / "test-runs" / "site"

pytestmark = pytest.mark.site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT),
               "--path-output", str(out), "--all", "-W", "-n", "--keep-going"]
    # the figures need Jupyter's inline backend
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    warnings = [line for line in log.splitlines()
                if "WARNING" in line and "IPKernelApp" not in line]
    assert not warnings, "\n".join(warnings)
    shutil.rmtree(EXECUTED, ignore_errors=True)
    EXECUTED.mkdir(parents=True)
    for notebook in (out / "_build" / "jupyter_execute" / "notebooks").glob("*.ipynb"):
        shutil.copy(notebook, EXECUTED / notebook.name)
    return out / "_build" / "html"


def html(site, page):
    return (site / f"{page}.html").read_text()


def ids_in(text):
    return set(re.findall(r'\sid="([^"]+)"', text))


@pytest.mark.parametrize("page", PAGES)
def test_page_is_built_with_a_title(site, page):
    text = html(site, page)
    title = re.search(r"<title>(.*?)</title>", text, re.S)
    assert title and title.group(1).strip()
    assert re.search(r"<h1>.+?</h1>", text, re.S), f"{page} has no heading"


@pytest.mark.parametrize("page", PAGES)
def test_page_images_and_links_resolve(site, page):
    text, folder = html(site, page), (site / page).parent
    for src in re.findall(r'<img[^>]+src="([^"]+)"', text):
        if not src.startswith(("http", "data:")):
            image = (folder / unquote(src.split("?")[0])).resolve()
            assert image.is_file(), f"{page}: missing image {src}"
    for href in re.findall(r'<a [^>]*href="([^"]+)"', text):
        if href.startswith(("http:", "https:", "mailto:", "javascript:", "data:")):
            continue
        url = urlsplit(href)
        target = (folder / unquote(url.path)).resolve() if url.path else site / f"{page}.html"
        if target.is_dir():
            target = target / "index.html"
        assert target.is_file(), f"{page}: broken link {href}"
        if url.fragment and target.suffix == ".html":
            assert url.fragment in ids_in(target.read_text()), (
                f"{page}: link to a missing anchor {href}")


@pytest.mark.parametrize("page", PAGES)
def test_page_says_nothing_about_this_machine(site, page):
    text = html(site, page)
    for marker in LOCAL_MARKERS:
        assert marker not in text, f"{page} contains the local path {marker!r}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_shows_figures_and_equations(site, page):
    text = html(site, page)
    figures = re.findall(r'<img[^>]+src="[^"]*_images/', text)
    assert len(figures) >= 2, f"{page}: fewer than 2 figures"
    assert 'class="math' in text, f"{page}: no math"


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_has_launch_download_and_repository_buttons(site, page):
    text = html(site, page)
    owner_repo = urlsplit(REPO).path.strip("/")
    notebook = f"{page}.ipynb"
    assert f"https://mybinder.org/v2/gh/{owner_repo}/{BRANCH}?urlpath=lab/tree/{notebook}" in text
    assert f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{notebook}" in text
    assert "initThebeSBT()" in text, f"{page}: no live-code (Thebe) button"
    assert f'repo: "{owner_repo}"' in text and f'ref: "{BRANCH}"' in text, (
        f"{page}: Thebe's Binder repo")
    assert f'href="{REPO}"' in text, f"{page}: no repository button"
    assert f"{REPO}/issues/new" in text, f"{page}: no issues button"
    assert f"_sources/{notebook}" in text, f"{page}: no download button for the notebook"


@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_opens_its_exercise_version(site, page):
    """Under the title: the chapter without its solutions (exercises/, made by `make exercises`),
    in Colab, in Binder, or downloaded from the site itself (book/_ext/exercise_links.py)."""
    text = html(site, page)
    owner_repo = urlsplit(REPO).path.strip("/")
    exercises = f"exercises/{Path(page).name}.ipynb"
    line = re.search(r'<p class="exercise-links">.*?</p>', text, re.S)
    assert line, f"{page}: no link to its exercise version"
    title, at = text.index('<h1><span class="section-number">'), text.index(line.group())
    assert title < at < text.index("<h2", title), "the line comes under the title, before 1.1"
    assert f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{exercises}" \
        in line.group()
    assert f"https://mybinder.org/v2/gh/{owner_repo}/{BRANCH}?urlpath=lab/tree/{exercises}" \
        in line.group()
    assert f'href="../{exercises}" download' in line.group()
    downloaded = json.loads((site / exercises).read_text())
    assert "NotImplementedError" in json.dumps(downloaded) and "### BEGIN SOLUTION" not in \
        json.dumps(downloaded), "the download is the exercise version, without solutions"


@pytest.mark.parametrize("page", CHAPTERS)
def test_exercises_read_as_exercises(site, page):
    """Solutions fold behind "Show solution", without nbgrader's markers; each check's report
    shows once (book/_ext/presentation.py)."""
    text = html(site, page)
    cells = json.loads((ROOT / f"{page}.ipynb").read_text())["cells"]
    marked = [c["metadata"].get("nbgrader", {}) for c in cells]
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert text.count(">Show solution<") == sum(bool(m.get("solution")) for m in marked) >= 3
    capstone = text.count("[PASSED] your trained Transformer")  # chapter 7's, not an exercise
    assert text.count("[PASSED] ") == sum(bool(m.get("grade")) for m in marked) + capstone
    assert "[NOT YET]" not in text


@pytest.mark.parametrize("page", CHAPTERS)
def test_plumbing_is_folded_and_still_runs(site, page):
    """Cells tagged check or plot fold behind a labelled toggle; viz.show_source folds the
    library's code (book/writing.md)."""
    text = html(site, page)
    cells = [c for c in json.loads((ROOT / f"{page}.ipynb").read_text())["cells"]
             if c["cell_type"] == "code"]
    tags = [tag for c in cells for tag in c["metadata"].get("tags", [])]
    assert text.count(">Show the check<") == tags.count("check")
    assert text.count(">Show the plotting code<") == tags.count("plot")
    listings = sum("".join(c["source"]).count("viz.show_source(") for c in cells)
    assert text.count('<details class="source-listing">') >= listings > 0  # (some in a loop)
    assert "display(Code(inspect.getsource" not in text  # one convention for listings


def test_chapters_are_numbered_in_the_navigation(site):
    text = html(site, TOC["root"])
    navigation = text[text.index('bd-docs-nav'):]
    navigation = navigation[:navigation.index("</nav>")]
    for number, page in enumerate(CHAPTERS, start=1):
        link = re.search(
            rf'<a class="reference internal" href="[^"]*{Path(page).name}\.html">(.*?)</a>',
            navigation, re.S)
        assert link and link.group(1).strip().startswith(f"{number}. "), (
            f"{page} is not numbered {number}")


def test_logo_and_favicon(site):
    text = html(site, TOC["root"])
    assert re.search(r'<link rel="icon" href="[^"]*favicon\.png"', text)
    assert re.search(r'<img src="[^"]*logo\.svg"', text)
    dark = re.search(r'<img src="([^"]*logo-dark\.svg)" class="logo__image only-dark', text)
    assert dark and (site / TOC["root"]).parent.joinpath(dark[1]).resolve().is_file()
    root = (site / "index.html").read_text()  # the redirect to the landing page
    icon = re.search(r'<link rel="icon" href="([^"]+)"', root)
    assert icon and (site / icon[1]).is_file() and f'url={TOC["root"]}.html' in root


def test_the_site_carries_no_file_it_never_loads(site):
    """book/_ext/site_files.py: MathJax's unused builds and the source maps are gone (the browser
    test fails on any request that fails, so nothing a page loads was removed)."""
    mathjax = site / "_static" / "mathjax"
    assert (mathjax / "tex-chtml.js").is_file() and not (mathjax / "tex-svg.js").exists()
    assert not list(site.rglob("*.map"))
    size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    print(f"the website is {size / 2**20:.1f} MiB")
    assert size < 30 * 2**20


@pytest.mark.parametrize("page", CHAPTERS)
def test_thebe_configuration_script_appears_once(site, page):
    """book/_ext/unique_scripts.py's job (a browser reports a second copy as a JavaScript error)."""
    assert html(site, page).count("const THEBE_JS_URL") == 1


def test_no_widget_or_math_script_from_a_cdn(site):
    for page in PAGES:
        scripts = re.findall(r'<script[^>]+src="(https?://[^"]+)"', html(site, page))
        assert not scripts, f"{page} loads scripts from the web: {scripts}"


def test_bibliography_lists_the_references(site):
    text = html(site, "book/bibliography")
    assert len(re.findall(r'class="citation"|<div class="citation"|role="doc-biblioentry"|'
                          r'<dt class="label"', text)) >= 5
    labels = re.findall(r'<span class="fn-bracket">\[</span>([^<]+)<', text)
    assert len(labels) >= 5 and len(set(labels)) == len(labels)
    # labelled as the text cites them (book/_ext/author_year.py): "Vaswani et al., 2017"
    assert all(re.fullmatch(r"[^,]+, \d{4}[a-z]?", label) for label in labels), labels


def test_execution_statistics_list_every_chapter(site):
    text = html(site, "book/execution_statistics")
    text = text[text.index("<table"):]
    for page in CHAPTERS:
        row = re.search(rf"{Path(page).name}.*?</tr>", text, re.S)
        assert row, f"{page} missing from the execution statistics"
        assert re.search(r"<td><p>\d+(\.\d+)?</p></td>", row.group(0)), f"{page}: no run time"


# In the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(site):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on this machine, so the pages were not opened in a browser "
                    "(Debian: apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

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
        yield browser, f"http://127.0.0.1:{server.server_address[1]}"
        browser.close()
    server.shutdown()


def open_page(browser, url, width=1280, height=900):
    """Open a page in a fresh tab; return the tab and what went wrong while it loaded."""
    browser, base = browser
    tab = browser.new_page(viewport={"width": width, "height": height})
    problems = {"javascript": [], "console": [], "external": [], "failed": []}
    tab.on("pageerror", lambda error: problems["javascript"].append(str(error)))
    tab.on("console", lambda m: m.type == "error" and problems["console"].append(m.text))
    tab.on("requestfailed", lambda r: problems["failed"].append(f"{r.url} ({r.failure})"))

    def route(request_route):  # the site must work offline: record and refuse the web
        if request_route.request.url.startswith(base):
            request_route.continue_()
        else:
            problems["external"].append(request_route.request.url)
            request_route.abort()

    tab.route("**/*", route)
    response = tab.goto(f"{base}/{url}", wait_until="load")
    assert response.ok, f"{url}: HTTP {response.status}"
    tab.wait_for_load_state("networkidle")
    return tab, problems


IMAGES = """() => [...document.querySelectorAll('article img')].map(i => ({
    src: i.getAttribute('src'), alt: i.getAttribute('alt') || '', natural: i.naturalWidth,
    shown: i.getBoundingClientRect().width,
    caption: i.closest('figure')?.querySelector('figcaption')?.textContent.trim() || ''}))"""


def check_images(tab, page):
    """Every image says in words what it shows, and is shown at 0.9 of its natural size or more
    (so a figure's text is not shrunk); every figure a chapter draws has a numbered caption."""
    for image in tab.evaluate(IMAGES):
        name = image["src"].rsplit("/", 1)[-1]
        alt = image["alt"].strip()
        assert len(alt) > 20 and not re.search(r"[/\\]|\.(png|svg|jpe?g|gif)$", alt), (
            f"{page}: {name} has no alt text in words: {alt!r}")
        assert image["shown"] >= 0.9 * image["natural"], (
            f"{page}: {name} is shown at {image['shown'] / image['natural']:.2f} of its size; "
            "draw it at the column's width (viz.COLUMN_INCHES)")
        if page in CHAPTERS or "_generated/" in image["src"]:
            assert re.match(r"Fig\. \d+(\.\d+)*\s", image["caption"]), (
                f"{page}: {name} has no numbered caption: {image['caption'][:60]!r}")


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_a_browser(browser, page):
    tab, problems = open_page(browser, f"{page}.html")
    assert tab.title().strip()
    assert tab.locator("article.bd-article h1").first.is_visible(), f"{page}: no visible heading"
    tab.wait_for_function("[...document.images].every(i => i.complete)")
    broken = tab.evaluate("[...document.images].filter(i => i.naturalWidth === 0).map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"
    math_nodes = tab.locator("main .math").count()
    if page in CHAPTERS:
        assert math_nodes, f"{page}: no math"
    if math_nodes:
        tab.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        tab.evaluate("MathJax.startup.promise")
        assert tab.locator("main mjx-container").count() >= math_nodes, "some equations not typeset"
        assert tab.locator("mjx-merror").count() == 0, "MathJax reported an error"
        assert tab.locator('mjx-mtext[style*="color: red"]').count() == 0, "undefined TeX macro"
    wide = tab.evaluate("""[...document.querySelectorAll('article pre, article div.cell')]
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => `${e.tagName} ${e.scrollWidth}px in ${e.clientWidth}px: `
                  + e.textContent.trim().slice(0, 60))""")
    assert not wide, f"{page}: code or output wider than the column at 1280 px: {wide}"
    check_images(tab, page)
    widgets = tab.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    assert widgets == 0, (f"{page}: {widgets} widget(s) that show as a blank box without a kernel; "
                          "tag the cell remove-output and show a static figure beside it")
    tab.close()
    assert not problems["javascript"], f"JavaScript errors: {problems['javascript']}"
    assert not problems["console"], f"errors in the browser console: {problems['console']}"
    assert not problems["external"], f"requests to the web (a CDN?): {problems['external']}"
    assert not problems["failed"], f"requests that failed: {problems['failed']}"


@pytest.mark.parametrize("page", PAGES)
def test_page_fits_a_phone(browser, page):
    """At 390 px nothing widens the page itself: wide code, tables and equations scroll inside
    their own boxes (book/_static/custom.css)."""
    tab, _ = open_page(browser, f"{page}.html", width=390, height=844)
    if tab.locator("main .math").count():
        tab.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        tab.evaluate("MathJax.startup.promise")
    if page == TOC["root"]:  # the chapter table becomes one card per chapter
        assert tab.evaluate("""[...document.querySelectorAll('.chapter-cards tbody tr')]
            .map(tr => getComputedStyle(tr).display)""") == ["block"] * len(CHAPTERS)
    page_width = tab.evaluate("document.documentElement.scrollWidth")
    past_edge = tab.evaluate("""[...document.querySelectorAll('article *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                     && !e.closest('.pst-scrollable-table-container, div.math, pre, mjx-container'))
        .slice(0, 5).map(e => e.tagName + '.' + e.className)""")
    tab.close()
    assert page_width <= 391 and not past_edge, f"{page}: {page_width}px wide: {past_edge}"


def test_search_ranks_the_chapter_about_it_first(browser):
    """Searching a chapter's subject lists that chapter first and once, with a snippet from its
    text: not the buttons and contents list above it, and no raw TeX (book/_static/search.js)."""
    chapter = next(p for p in CHAPTERS if Path(p).name.startswith("02_"))
    tab, problems = open_page(browser, "search.html?q=attention")
    tab.wait_for_function("""document.querySelector('#search-results .search-summary')
        ?.textContent.includes('found') && [...document.querySelectorAll('#search-results li')]
        .every(li => li.querySelector('p.context'))""")
    results = tab.evaluate("""[...document.querySelectorAll('#search-results li')].map(li => ({
        href: li.querySelector('a').getAttribute('href'),
        snippet: li.querySelector('p.context')?.textContent || ''}))""")
    tab.close()
    assert not problems["javascript"], problems["javascript"]
    assert results[0]["href"].split("#")[0] == f"{chapter}.html", results[:3]
    pages = [r["href"].split("#")[0] for r in results]
    listed = pages.count(f"{chapter}.html")
    assert listed == 1, f"{chapter} is listed {listed} times"
    for result in results:
        snippet = result["snippet"]
        assert ".pdf" not in snippet and "Contents" not in snippet, snippet
        assert "\\(" not in snippet and "\\[" not in snippet, f"raw TeX in {snippet!r}"


def test_costs_page_shows_each_tables_verdict_without_scrolling(browser):
    """At 1280 px the ratio and the verdict of every table on the costs page are in view; wider
    tables scroll inside their own box, never the page."""
    tab, _ = open_page(browser, "book/costs.html")
    hidden = tab.evaluate("""[...document.querySelectorAll('.pst-scrollable-table-container')]
        .flatMap(box => [...box.querySelectorAll('th')]
            .filter(th => /ours \\/ PyTorch|within/.test(th.textContent))
            .filter(th => th.getBoundingClientRect().right > box.getBoundingClientRect().right)
            .map(th => th.textContent.trim()))""")
    tab.close()
    assert not hidden, f"columns behind a scrollbar at 1280 px: {hidden}"


def test_live_code_says_so_when_it_cannot_load(browser):
    """Offline (this test refuses the web), Live Code cannot fetch thebe: the button under the
    title says why and what to do (book/_static/live_code.js), instead of loading for ever."""
    chapter = next(p for p in CHAPTERS if Path(p).name.startswith("02_"))
    tab, problems = open_page(browser, f"{chapter}.html")
    tab.evaluate("initThebeSBT()")  # what the "Live Code" item of the rocket menu calls
    tab.wait_for_function("""(document.querySelector('.thebe-launch-button') || {}).innerText
                             ?.includes('needs the internet')""", timeout=10_000)
    tab.close()
    assert problems["external"] and "thebe" in problems["external"][0]  # the refused CDN request


VISIBLE_CODE = """() => {
    const article = document.querySelector('article.bd-article');
    const code = 'div.cell_input, div.cell_output div.text_html';  // code cells, code listings
    const shown = [...article.querySelectorAll(code)]
        .filter(e => e.getClientRects().length > 0 && !e.parentElement.closest(code))
        .filter(e => e.matches('div.cell_input') || e.querySelector('div.highlight'));
    const height = shown.reduce((sum, e) => sum + e.getBoundingClientRect().height, 0);
    return [height, article.getBoundingClientRect().height];
}"""


def test_report_the_share_of_each_chapter_that_is_visible_code(browser):
    """Not a pass/fail test: the figure the chapter rewrites are meant to bring down, written to
    _build/screenshots/visible-code.txt (CI keeps it) at 1280 px."""
    lines = []
    for page in CHAPTERS:
        tab, _ = open_page(browser, f"{page}.html")
        code, height = tab.evaluate(VISIBLE_CODE)
        tab.close()
        assert height > 0
        lines.append(f"{page}: {code / height:.0%} of {height / 900:.0f} screens is visible code")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "visible-code.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def test_screenshots(browser):
    """The landing page and chapter 2, as a reader sees them; kept as CI artifacts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab, _ = open_page(browser, "index.html")  # the site's root redirects to the landing page
    tab.wait_for_url(f"**/{TOC['root']}.html")
    tab.screenshot(path=SCREENSHOTS / "landing.png")
    tab.close()
    chapter = next(p for p in CHAPTERS if Path(p).name.startswith("02_"))
    tab, _ = open_page(browser, f"{chapter}.html")
    tab.evaluate("MathJax.startup.promise")
    tab.screenshot(path=SCREENSHOTS / "chapter-02.png")
    # further down: a figure, with the equations and text around it
    tab.locator("main img[src*='_images/']").nth(1).scroll_into_view_if_needed()
    tab.evaluate("window.scrollBy(0, -250)")
    tab.screenshot(path=SCREENSHOTS / "chapter-02-figure.png")
    tab.close()
    tab, _ = open_page(browser, f"{TOC['root']}.html")  # a light system: one click gives dark
    assert tab.evaluate("document.documentElement.dataset.theme") == "light"
    tab.locator("button.theme-switch-button").first.click()
    assert tab.evaluate("document.documentElement.dataset.theme") == "dark"
    tab.screenshot(path=SCREENSHOTS / "landing-dark.png")
    tab.close()
    for name, page in [("landing-390.png", TOC["root"]), ("chapter-02-390.png", chapter)]:
        tab, _ = open_page(browser, f"{page}.html", width=390, height=844)
        tab.screenshot(path=SCREENSHOTS / name)
        tab.close()
    for name in ("landing.png", "chapter-02.png", "chapter-02-figure.png", "landing-390.png",
                 "chapter-02-390.png"):
        assert (SCREENSHOTS / name).stat().st_size > 20_000, f"{name} looks empty"
