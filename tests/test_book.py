"""Build the HTML book and read it in a real headless browser (Debian's Chromium).

Checks what a reader would notice: every page loads, math is rendered by the bundled
MathJax, chapter figures are present, numbers are glued in, exercises have hidden
solutions, search finds pages, and no request leaves the machine.
"""

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

import dlbook.train

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.book


def toc_pages() -> list[str]:
    """Every document in _toc.yml, root first, as paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


CHAPTERS = [page for page in toc_pages() if Path(page).name[:2].isdigit()]


@pytest.fixture(scope="module")
def html_dir() -> Path:
    """Build the book once (warnings are errors) and return _build/html."""
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", "--all", "-W", "-n", "--keep-going", "."]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"the book did not build:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}")
    return ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def server(html_dir):
    """Serve the built book on 127.0.0.1 (a random free port) for the browser."""
    handler = functools.partial(QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = "Chromium is not installed (Debian: apt-get install chromium; `make setup` does it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A fresh page that refuses, and records, every request that would leave 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def guard(route):
        url = route.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host == "127.0.0.1":
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.outside, page.errors = outside, errors
    yield page
    context.close()


def open_page(page, server, doc: str):
    response = page.goto(f"{server}/{doc}.html", wait_until="load")
    assert response is not None and response.ok, f"{doc}.html did not load"
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("doc", toc_pages())
def test_page_loads_offline_without_errors(page, server, doc):
    open_page(page, server, doc)
    assert page.outside == [], f"{doc}: requests left the machine: {page.outside}"
    # sphinx-thebe (pulled in by jupyter-book) declares its config twice; thebe is off, so it is harmless.
    errors = [e for e in page.errors if "THEBE_JS_URL" not in e]
    assert errors == [], f"{doc}: JavaScript errors: {errors}"
    text = page.inner_text("main")
    assert "{glue" not in text and "Traceback" not in text, f"{doc}: unrendered role or an error in the output"


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_has_math_figures_and_exercises(page, server, html_dir, doc):
    open_page(page, server, doc)
    page.wait_for_selector("mjx-container", state="attached", timeout=20_000)  # the first may sit in a dropdown
    assert page.locator("mjx-container").count() > 0, f"{doc}: no rendered formula"
    images = page.locator("main .cell_output img")
    assert images.count() > 0, f"{doc}: no figure in the cell outputs"
    widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert all(w > 0 for w in widths), f"{doc}: a figure failed to load"
    assert page.locator(".exercise").count() > 0, f"{doc}: no exercises"
    solutions = page.locator(".solution.dropdown, .solution.toggle-hidden, details.solution")
    assert page.locator(".solution").count() > 0 and solutions.count() == page.locator(".solution").count(), (
        f"{doc}: every solution should start hidden"
    )
    shots = html_dir.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / f"{Path(doc).name}.png"), full_page=False)


def test_guard_catches_a_request_that_leaves_the_machine(page, server):
    open_page(page, server, toc_pages()[0])
    page.evaluate("fetch('https://cdn.example.org/x.js').catch(() => null)")
    page.wait_for_timeout(500)
    assert page.outside == ["https://cdn.example.org/x.js"]


def test_search_finds_a_chapter(page, server):
    page.goto(f"{server}/search.html?q=tensor", wait_until="load")
    page.wait_for_selector("#search-results ul.search li", timeout=20_000)
    assert page.locator("#search-results ul.search li").count() > 0
    assert page.outside == []


def test_api_page_documents_the_public_package(page, server):
    """The reference is generated from the docstrings: every public name a chapter uses has an entry."""
    open_page(page, server, "chapters/api")
    documented = set(page.locator("dt.sig[id]").evaluate_all("nodes => nodes.map(n => n.id)"))
    expected = {f"dlbook.{name}" for name in ("start", "glue", "pick", "device", "seed", "show", "require")}
    expected |= {f"dlbook.train.{name}" for name in ("fit", "evaluate", "train_epoch", "train_step", "model_device")}
    expected |= {"dlbook.data.fashion_mnist", "dlbook.data.ImageData", "dlbook.models.MLP", "dlbook.optim.Adam"}
    assert expected <= documented, f"missing from the API page: {sorted(expected - documented)}"
    fit_entry = page.locator("dt.sig[id='dlbook.train.fit'] + dd").inner_text()
    first_line = dlbook.train.fit.__doc__.split("\n")[0].replace("``", "")  # as rendered: no literal markers
    assert first_line.split("batches ")[1] in fit_entry  # the docstring itself
