"""The web chat, end to end: a real `rag serve` process, driven in headless Chromium and by gradio_client.

One server runs for the whole module over a copy of seeds/ (uploads go to a temporary folder, never
into the repo). The browser is Debian's Chromium (`tests/install_chromium.sh` installs it; the
README's test command runs that first), driven by Playwright.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from rag import Config
from rag.answer import normalize_answer
from tests.helpers import save_if_changed

# A real browser, Milvus, wheel build or training run: the README's test command runs it, the quick tier does not.
pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "docs" / "web-chat.png"
PHONE_SCREENSHOT = REPO / "docs" / "web-chat-phone.png"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
ANSWER_TIMEOUT_MS = 90_000

# An uploaded article whose facts are in no seed, and one made of markup that must stay text.
UPLOADED_ARTICLE = (
    "The Lighthouse Keepers Society held its annual meeting in Port Elspeth on Saturday. "
    "Members elected Marisol Quintero as the society's new president, replacing Anders Holm. "
    "The society maintains eleven historic lighthouses along the northern coast.\n"
)
MARKUP_ARTICLE = (
    "Security note for the archive team.\n\n"
    "The intrusion test string was <script>window.__rag_xss = 1</script> and the image probe was "
    "<img src=x onerror=\"window.__rag_xss = 2\"> in the archive. "
    "The archive team is led by Ottoline Brandvold, who filed the report on Tuesday.\n"
)


server_pids: dict[str, int] = {}  # url -> pid of its `rag serve`, for the memory and binding checks


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium() -> str:
    for name in (os.environ.get("RAG_TEST_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    pytest.fail("no Chromium found: run `sh tests/install_chromium.sh` (the README's test command does)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """`rag serve` over a copy of seeds/, on a free port; yields (url, uploads folder)."""
    root = tmp_path_factory.mktemp("web")
    corpus = root / "corpus"
    shutil.copytree(REPO / "seeds", corpus)
    uploads = root / "uploads"
    config = root / "rag.toml"
    config.write_text(f'uploads_dir = "{uploads.as_posix()}"\nmax_upload_bytes = 200000\n', encoding="utf-8")
    port = _free_port()
    log = (root / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--corpus", str(corpus), "--index", str(root / "index"),
         "--config", str(config), "--port", str(port), "--no-browser"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    while True:
        if process.poll() is not None:
            pytest.fail(f"rag serve exited with {process.returncode}:\n{(root / 'serve.log').read_text()}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"rag serve did not answer within 240 s:\n{(root / 'serve.log').read_text()}")
            time.sleep(0.5)
    server_pids[url] = process.pid
    yield url, uploads
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def desktop(browser):
    """One browser context for the desktop tests: its HTTP cache keeps Gradio's scripts between pages
    (a page then loads in a third of the time); each test still gets a page of its own.
    Requests leaving this machine are recorded and blocked."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def guard(route):
        if route.request.url.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    context.outside_requests = outside  # type: ignore[attr-defined]
    yield context
    context.close()


@pytest.fixture
def page(desktop, server):
    """A fresh page on the chat; fails the test if it asked for anything outside this machine."""
    url, _ = server
    outside = desktop.outside_requests
    outside.clear()
    page = desktop.new_page()
    page.outside_requests = outside  # type: ignore[attr-defined]
    page.goto(url)
    page.wait_for_selector("#question textarea")
    yield page
    page.close()
    assert outside == [], f"the page asked for something outside this machine: {outside}"


def _ask(page, question: str) -> None:
    before = page.locator("#chat [data-testid='bot']").count()
    page.fill("#question textarea", question)
    page.click("#ask-button")
    # The question shows at once (the box is cleared then); the answer replaces the typing indicator.
    page.wait_for_function(
        "n => document.querySelectorAll(\"#chat [data-testid='bot']\").length > n"
        " && !document.querySelector('#chat .pending')",
        arg=before, timeout=ANSWER_TIMEOUT_MS,
    )
    page.wait_for_function("() => document.querySelector('#question textarea').value === ''", timeout=ANSWER_TIMEOUT_MS)
    # The evidence panel is filled by the same update; wait until it names this answer (answers are
    # numbered by their place in the chat).
    page.wait_for_function(
        "n => (document.querySelector('#citations')?.innerText || '').includes('Sources of answer ' + n)",
        arg=before + 1, timeout=ANSWER_TIMEOUT_MS,
    )


def _text(raw: str) -> str:
    return raw.replace("\xa0", " ")  # Markdown may render a space after bold text as a no-break space


def _last_bot_text(page) -> str:
    return _text(page.locator("#chat [data-testid='bot']").last.inner_text())


def _all_bot_text(page) -> str:
    return _text("\n".join(page.locator("#chat [data-testid='bot']").all_inner_texts()))


def _passage_rows(page) -> int:
    if not page.locator("#passages").is_visible():
        page.get_by_text("Why these passages?").click()  # folded by default
    return int(page.locator("#passages [role=grid]").get_attribute("aria-rowcount")) - 1  # minus the header


def _click_marker(page, answer: int, source: int) -> None:
    """Click the [n] marker of answer ``answer`` (from 1) and wait until the evidence panel lists its sources."""
    marker = page.locator(f"#chat a[href='#source-{answer}-{source}']").first
    target = "() => document.querySelector('#source-target textarea, #source-target input')?.value || ''"
    before = page.evaluate(target)
    # Right after an answer the chat scrolls its start into view (150 ms later); a click that Playwright
    # aimed before that scroll lands beside the marker, so it is aimed again, as a person would.
    for attempt in range(3):
        marker.click()
        try:
            page.wait_for_function(f"b => ({target})() !== b", arg=before, timeout=3_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    page.wait_for_function(
        "([a, n]) => (document.querySelector('#citations')?.innerText || '').includes('Sources of answer ' + a)"
        " && document.querySelector('#citations input:checked')?.value.startsWith('[' + n + ']')",
        arg=[answer, source], timeout=20_000,
    )


def _bot_messages(page):
    return page.locator("#chat [data-testid='bot']")


def _upload(page, name: str, content: bytes, tmp_path: Path) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    if not page.locator("#upload input[type=file]").count():
        page.get_by_text("Add documents").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "name => (document.querySelector('#upload-status')?.innerText || '').includes(name)",
        arg=name, timeout=ANSWER_TIMEOUT_MS,
    )
    return page.locator("#upload-status").inner_text()


def test_answer_with_highlighted_citation_and_document(page):
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    answer = _text(page.locator("#chat [data-testid='bot']").first.inner_text())
    assert "Seoul" in answer
    assert "met in Seoul on Monday" in answer  # the answer is shown inside its sentence
    assert "Confidence 0." in answer and "[1]" in answer
    # The evidence panel shows citation [1]'s passage with exactly the answer span highlighted.
    page.wait_for_selector("#evidence .highlighted")
    assert page.locator("#evidence .highlighted").first.inner_text().strip() == "Seoul"
    assert "Ahn Gyu-back and Japanese Minister Gen Nakatani met in" in page.locator("#evidence .textfield").inner_text()
    assert page.locator("#citations label").first.inner_text().startswith("[1] ")
    # The retrieved passages panel lists the top-k passages with their scores.
    assert _passage_rows(page) == Config().top_k
    save_if_changed(page.screenshot(full_page=True), SCREENSHOT)
    # The whole document opens with the span highlighted.
    page.click("#open-document")
    page.wait_for_selector("#document-view .highlighted")
    document = page.locator("#document-view").inner_text()  # label (the document id) and text
    seed = (REPO / "seeds" / "000_d8589817e4af2ab0.txt").read_text(encoding="utf-8")
    assert "000_d8589817e4af2ab0.txt" in document
    assert seed.split("\n")[-2].strip()[:60] in document  # the end of the article, not only the passage
    assert page.outside_requests == []  # nothing loaded from outside this machine


def test_other_citation_shows_its_passage(page):
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    labels = page.locator("#citations label")
    assert labels.count() >= 2
    first_passage = page.locator("#evidence .textfield").inner_text()
    labels.nth(1).click()
    page.wait_for_function(
        "t => document.querySelector('#evidence .textfield')?.innerText !== t", arg=first_passage, timeout=10_000
    )
    passage = " ".join(page.locator("#evidence .textfield").inner_text().split())
    seeds = [" ".join(p.read_text(encoding="utf-8").split()) for p in sorted((REPO / "seeds").glob("*.txt"))]
    assert any(passage in document for document in seeds)
    # "SEOUL" in a dateline and "in Seoul" later in the same sentence: one source, both marked.
    assert [t.strip().lower() for t in page.locator("#evidence .highlighted").all_inner_texts()] == ["seoul", "seoul"]


def test_markers_select_their_source_in_its_own_message(page):
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    _ask(page, "How many sailors were killed in the sinking of the Cheonan?")
    first, second = _bot_messages(page).nth(0), _bot_messages(page).nth(1)
    # Each answer keeps its own numbered cards, and its count says how many.
    for message, answer in ((first, 1), (second, 2)):
        cards = message.locator("blockquote")
        shown = _text(message.inner_text())
        count = cards.count()
        assert count >= 1 and f"· {count} source" in shown
        assert [cards.nth(i).locator("a").first.get_attribute("href") for i in range(count)] == [
            f"#source-{answer}-{n}" for n in range(1, count + 1)]
    assert "46" in _text(second.inner_text())
    # A marker of the first answer, clicked after the second arrived, shows that answer's source: the
    # passage with its span, and the whole document with the span highlighted.
    _click_marker(page, 1, 2)
    page.wait_for_selector("#document-view .highlighted")
    assert page.locator("#evidence .highlighted").first.inner_text().strip().lower() == "seoul"
    assert page.locator("#document-view .highlighted").first.inner_text().strip().lower() == "seoul"
    assert page.locator("#citations label").count() == first.locator("blockquote").count()
    # And the second answer's first marker switches the panel to the second answer's sources.
    _click_marker(page, 2, 1)
    page.wait_for_function("() => document.querySelector('#evidence .highlighted')?.innerText.includes('46')",
                           timeout=20_000)
    assert page.locator("#citations label").count() == second.locator("blockquote").count()


def test_question_shows_at_once_with_one_typing_indicator(page):
    # Watch the page from the click until the answer: the question must show before the answer does,
    # with one typing indicator in the chat and no progress overlay anywhere else.
    page.evaluate("""() => {
      window.__seen = {questionFirst: false, indicators: 0, covered: [], answered: false};
      const look = () => {
        const s = window.__seen;
        const asked = document.querySelectorAll('#chat [data-testid="user"]').length > 0;
        const answered = document.querySelectorAll('#chat [data-testid="bot"]').length > 0;
        if (asked && !answered) s.questionFirst = true;
        s.answered = s.answered || answered;
        s.indicators = Math.max(s.indicators, document.querySelectorAll('#chat .pending, #chat [aria-label="Loading response"]').length);
        for (const t of document.querySelectorAll('[data-testid="status-tracker"]')) {
          const box = t.getBoundingClientRect();
          if (!t.closest('#chat') && !t.classList.contains('hide') && box.width > 0 && box.height > 0)
            s.covered.push(t.parentElement?.id || t.parentElement?.className || '?');
        }
      };
      new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true});
    }""")
    page.fill("#question textarea", "What is the name of the South Korean Air Force aerobatic team?")
    page.click("#ask-button")
    page.wait_for_function("() => window.__seen.answered && !document.querySelector('#chat .pending')",
                           timeout=ANSWER_TIMEOUT_MS)
    seen = page.evaluate("() => window.__seen")
    assert seen["questionFirst"], "the question appeared only with its answer"
    assert seen["indicators"] == 1
    assert seen["covered"] == []


def test_empty_question_says_why_and_logs_no_traceback(page, server):
    _, uploads = server
    log = uploads.parent / "serve.log"
    before = log.read_text(encoding="utf-8", errors="replace")
    page.fill("#question textarea", "   ")
    page.click("#ask-button")
    page.get_by_text("Type a question first.").wait_for(timeout=10_000)
    assert page.locator("#chat [data-testid='user']").count() == 0
    time.sleep(0.5)
    added = log.read_text(encoding="utf-8", errors="replace")[len(before):]
    assert "Traceback" not in added, added


def test_clear_resets_every_panel(page):
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    _click_marker(page, 1, 1)
    page.wait_for_selector("#document-view .highlighted")
    assert _passage_rows(page) > 0
    page.locator("#chat button[title='Clear'], #chat button[aria-label='Clear']").first.click()
    page.wait_for_function("() => document.querySelectorAll('#citations label').length === 0", timeout=10_000)
    assert page.locator("#chat [data-testid='bot']").count() == 0
    assert page.locator("#evidence .highlighted").count() == 0
    assert " ".join(page.locator("#evidence .textfield").all_inner_texts()).strip() == ""
    assert not page.locator("#document-view").is_visible()
    assert page.locator("#open-document").is_disabled()
    assert "ask a question first" in page.locator("#open-document").inner_text()
    assert "Sources (ask a question first)" in page.locator("#citations").inner_text()
    assert page.locator("#evidence").inner_text().split("\n", 1)[0] == "Passage (ask a question first)"  # no highlight promised
    assert page.locator("#passages [role=grid]").get_attribute("aria-rowcount") in (None, "1")
    # Numbering starts again: the next answer is answer 1.
    _ask(page, "How many sailors were killed in the sinking of the Cheonan?")
    assert page.locator("#chat a[href='#source-1-1']").count() >= 1


def test_copy_gives_plain_text_with_sources(browser, server):
    url, _ = server
    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#question textarea")
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    page.locator("#chat button[title='Copy message']").last.click()
    page.wait_for_function("() => navigator.clipboard.readText().then(t => t.startsWith('Seoul'))", timeout=10_000)
    copied = page.evaluate("() => navigator.clipboard.readText()")
    context.close()
    assert "\\" not in copied and "**" not in copied and "](#source" not in copied
    assert "met in Seoul on Monday" in copied
    assert "[1] South Korean Defense Minister Ahn Gyu-back" in copied  # the first source, named


def test_phone_width_shows_the_answer_and_its_first_source_without_scrolling(browser, server):
    url, _ = server
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#question textarea")
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    page.evaluate("() => window.scrollTo(0, 0)")
    time.sleep(0.5)  # the chat scrolls the new answer into view after it renders
    answer = _bot_messages(page).last
    first_card = answer.locator("blockquote").first
    top = answer.locator("strong").first.bounding_box()
    card = first_card.bounding_box()
    save_if_changed(page.screenshot(), PHONE_SCREENSHOT)
    context.close()
    assert top is not None and card is not None
    assert top["y"] >= 0 and card["y"] + card["height"] <= 844, (top, card)
    assert card["x"] >= 0 and card["x"] + card["width"] <= 390


def test_phone_width_has_no_sideways_scrolling_and_folds_the_passages(browser, server):
    url, _ = server
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#question textarea")
    _ask(page, "How many sailors were killed in the sinking of the Cheonan?")
    folded = not page.locator("#passages").is_visible()
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    rows = _passage_rows(page)  # unfolds it
    unfolded_wide = page.evaluate("() => document.documentElement.scrollWidth")
    context.close()
    assert folded and rows > 0
    assert wide <= 390 and unfolded_wide <= 390


def test_unanswerable_question_abstains_with_closest_passages(page):
    _ask(page, "Who painted the Mona Lisa?")
    text = _all_bot_text(page)
    assert "The documents don't say." in text
    assert "Closest passages" in text
    # The evidence panel lists the closest passages and shows the first, with nothing marked as the answer.
    labels = page.locator("#citations label")
    assert labels.count() >= 1 and all(t.endswith("closest passage") for t in labels.all_inner_texts())
    assert page.locator("#evidence .textfield").inner_text().strip()
    assert page.locator("#evidence .highlighted").count() == 0
    # Its whole document opens, the passage highlighted.
    page.click("#open-document")
    page.wait_for_selector("#document-view .highlighted")
    assert page.outside_requests == []


def test_example_questions(page):
    # In the empty chat, clicking an example asks it.
    page.locator("#chat").get_by_text("What is the capital of France?").click()
    page.wait_for_selector("#chat [data-testid='bot']", timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('#question textarea').value === ''", timeout=ANSWER_TIMEOUT_MS)
    assert "What is the capital of France?" in page.locator("#chat [data-testid='user']").first.inner_text()
    assert "The documents don't say." in _all_bot_text(page)
    # Under the box, clicking an example fills it in.
    page.locator(".gallery").get_by_text("In which year did South Korea and Japan normalize").click()
    page.wait_for_function(
        "() => document.querySelector('#question textarea').value.startsWith('In which year')", timeout=10_000
    )


def test_settings_change_retrieval(page):
    _set_top_k(page, 2)
    page.locator("#retrieval").get_by_text("dense").click()
    _ask(page, "How many sailors were killed in the sinking of the Cheonan?")
    assert _passage_rows(page) == 2
    assert "46" in _last_bot_text(page) or "46" in _all_bot_text(page)


def test_upload_makes_a_document_citable(page, server, tmp_path):
    _, uploads = server
    status = _upload(page, "lighthouses.txt", UPLOADED_ARTICLE.encode(), tmp_path)
    assert "Added: uploads/lighthouses.txt" in status
    assert (uploads / "lighthouses.txt").read_text(encoding="utf-8") == UPLOADED_ARTICLE
    _ask(page, "Who was elected president of the Lighthouse Keepers Society?")
    assert "Marisol Quintero" in _all_bot_text(page)
    assert page.locator("#citations label").first.inner_text().startswith("[1] The Lighthouse Keepers Society held")
    _click_marker(page, 1, 1)
    page.wait_for_selector("#document-view .highlighted")
    assert "uploads/lighthouses.txt" in page.locator("#document-view").inner_text()  # the label names the file


def _upload_payloads(page, files: list[tuple[str, bytes]], wait_for: str) -> str:
    """Upload files under exactly these names (as a browser sends them) and wait for ``wait_for``."""
    if not page.locator("#upload").is_visible():
        page.get_by_text("Add documents").click()
    page.locator("#upload input[type=file]").set_input_files(
        [{"name": name, "mimeType": "application/octet-stream", "buffer": data} for name, data in files])
    page.wait_for_function("t => (document.querySelector('#upload-status')?.innerText || '').includes(t)",
                           arg=wait_for, timeout=ANSWER_TIMEOUT_MS)
    return _text(page.locator("#upload-status").inner_text())


def test_upload_refusals_say_why_and_names_are_never_rewritten(page, server):
    _, uploads = server
    before = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
    status = _upload_payloads(page, [
        ("../escape.txt", b"An escape attempt."),
        ("..txt", b"A hidden file."),
        ("scan.pdf", b"not a PDF at all"),
        ("notes.odt", b"An OpenDocument file."),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"),
    ], wait_for="binary.txt")
    lines = status.splitlines()
    assert len(lines) == 5, status
    assert "Refused file name '../escape.txt': it names a folder" in status  # by the name it was sent with
    assert "Refused file name '..txt': a name that starts with a dot is a hidden file" in status
    assert "Refused scan.pdf: not a readable PDF" in status
    assert "Refused notes.odt: it is a .odt file; rag reads .txt, .md, .pdf" in status
    assert "Refused binary.txt: binary.txt is not UTF-8 text" in status
    assert (sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []) == before  # nothing saved


def test_pdf_html_and_docx_upload_like_the_corpus_reads_them(page, server, tmp_path):
    import docx
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 10, "The harbour authority named Ingrid Vasstrand chief architect of the ferry terminal.")
    memo = docx.Document()
    memo.add_paragraph("The council approved a library budget of 3.2 million crowns for the reading room.")
    memo.save(str(tmp_path / "memo.docx"))
    html = b"<html><head><title>Museum</title></head><body><p>The museum reopened after a renovation led by Tomas Lindqvist.</p></body></html>"
    status = _upload_payloads(page, [("terminal.pdf", bytes(pdf.output())), ("museum.html", html),
                                     ("memo.docx", (tmp_path / "memo.docx").read_bytes())], wait_for="memo.docx")
    for name in ("terminal.pdf", "museum.html", "memo.docx"):
        assert f"Added: uploads/{name} (added;" in status, status
    _ask(page, "Who was named chief architect of the ferry terminal?")
    assert "Ingrid Vasstrand" in _bot_messages(page).last.inner_text()
    _ask(page, "What budget did the council approve for the reading room?")
    assert "3.2 million crowns" in _bot_messages(page).last.inner_text()


def test_replacing_an_upload_asks_first(page, server):
    _, uploads = server
    status = _upload_payloads(page, [("harbour-notes.txt", b"The first version names the pilot Edda Rask.")],
                              wait_for="harbour-notes.txt")
    assert "Added: uploads/harbour-notes.txt (added;" in status
    status = _upload_payloads(page, [("harbour-notes.txt", b"The second version names the pilot Signe Holt.")],
                              wait_for="exists already")
    assert "Refused harbour-notes.txt: uploads/harbour-notes.txt exists already. Tick “Replace documents" in status
    assert (uploads / "harbour-notes.txt").read_bytes() == b"The first version names the pilot Edda Rask."
    page.locator("#replace-uploads input").check()
    status = _upload_payloads(page, [("harbour-notes.txt", b"The second version names the pilot Signe Holt.")],
                              wait_for="replaced")
    assert "Added: uploads/harbour-notes.txt (replaced;" in status
    assert (uploads / "harbour-notes.txt").read_bytes() == b"The second version names the pilot Signe Holt."


def test_uploaded_documents_are_listed_and_can_be_removed(page, server):
    _, uploads = server
    _upload_payloads(page, [("observatory.txt", b"The Kestrel Ridge observatory is run by astronomer Paavo Lind.")],
                     wait_for="observatory.txt")
    listed = page.locator("#uploaded")
    assert "uploads/observatory.txt" in listed.inner_text()
    _ask(page, "Who runs the Kestrel Ridge observatory?")
    assert "Paavo Lind" in _bot_messages(page).last.inner_text()
    listed.get_by_text("uploads/observatory.txt").click()
    page.click("#remove-uploads")
    page.wait_for_function("() => (document.querySelector('#upload-status')?.innerText || '').includes('Removed')",
                           timeout=ANSWER_TIMEOUT_MS)
    assert "Removed: uploads/observatory.txt (deleted, and dropped from the index)" in _text(
        page.locator("#upload-status").inner_text())
    assert not (uploads / "observatory.txt").exists()
    assert "uploads/observatory.txt" not in page.locator("#uploaded").inner_text()
    _ask(page, "Who runs the Kestrel Ridge observatory?")
    assert "Paavo Lind" not in _bot_messages(page).last.inner_text()


def test_bad_upload_is_refused_and_changes_nothing(page, server, tmp_path):
    _, uploads = server
    before = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
    status = _upload(page, "binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", tmp_path)
    assert "Refused" in status and "binary.txt" in status
    after = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
    assert after == before


def test_markup_in_a_document_is_shown_as_text_and_never_runs(page, tmp_path):
    status = _upload(page, "markup.md", MARKUP_ARTICLE.encode(), tmp_path)
    assert "Added: uploads/markup.md" in status
    _ask(page, "Who leads the archive team?")
    assert "Ottoline Brandvold" in _all_bot_text(page)
    page.click("#open-document")
    page.wait_for_selector("#document-view .highlighted")
    document = page.locator("#document-view").inner_text()
    assert "<script>window.__rag_xss = 1</script>" in document
    assert '<img src=x onerror="window.__rag_xss = 2">' in document
    evidence = page.locator("#evidence").inner_text()
    assert "<script>" in evidence and "<img" in evidence  # the cited passage shows the markup literally
    assert page.evaluate("() => window.__rag_xss") is None
    assert page.locator("#chat script, #chat img[src='x'], #document-view img, #evidence img").count() == 0
    # Markup typed as a question is shown as text too.
    _ask(page, "<b>bold?</b> <img src=x onerror=\"window.__rag_xss = 3\">")
    assert "<b>bold?</b>" in page.locator("#chat [data-testid='user']").last.inner_text()
    assert page.evaluate("() => window.__rag_xss") is None


def test_the_readmes_api_example_holds(server) -> None:
    """The README's gradio_client example, run against a real server (its URL swapped in)."""
    from rag.eval.bench.readme_examples import README, python_checks

    block = next(b for b in README.read_text(encoding="utf-8").split("```python\n")[1:] if "gradio_client" in b)
    program = python_checks(block.split("```", 1)[0]).replace("http://127.0.0.1:7860/", server[0])
    assert "assert (" in program
    exec(compile(program, "README.md", "exec"), {"__name__": "readme"})


def test_api_answers_like_the_cli(server, seeds_pipeline):
    from gradio_client import Client

    url, _ = server
    client = Client(url, verbose=False)
    result = client.predict("Where did Ahn Gyu-back and Gen Nakatani meet?", api_name="/ask")
    assert result["answer"] == "Seoul"
    assert {"question", "answer", "abstained", "confidence", "citations", "passages", "message"} <= set(result)
    expected = seeds_pipeline.ask("Where did Ahn Gyu-back and Gen Nakatani meet?").to_json()  # what rag ask --json prints
    assert set(result) == set(expected)
    assert result["citations"][0].keys() == expected["citations"][0].keys()
    assert result["answer"] == expected["answer"]
    # Optional settings: BM25 with two passages and a threshold no answer reaches.
    strict = client.predict("Where did Ahn Gyu-back and Gen Nakatani meet?", 2, "bm25", 1.0, api_name="/ask")
    assert strict["abstained"] is True and len(strict["passages"]) == 2


def test_concurrent_requests_each_get_their_own_answer(server, core_questions):
    from gradio_client import Client

    url, _ = server
    questions = [q for q in core_questions if q["kind"] in ("answerable", "outside")]
    assert len(questions) == 20
    client = Client(url, verbose=False)
    serial = {q["question"]: client.predict(q["question"], api_name="/ask")["answer"] for q in questions}

    def ask(question: str) -> dict:
        return Client(url, verbose=False).predict(question, api_name="/ask")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(ask, [q["question"] for q in questions]))
    for q, result in zip(questions, results):
        assert result["question"] == q["question"]
        assert result["answer"] == serial[q["question"]]
    # 50 at once (the 20 questions, some several times), in shuffled order: no error, each its own answer.
    fifty = [questions[(i * 7) % 20]["question"] for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(ask, fifty))
    assert [a["question"] for a in answers] == fifty
    assert [a["answer"] for a in answers] == [serial[q] for q in fifty]
    right = [
        q for q, r in zip(questions, results)
        if (r["answer"] is None and not q["answers"])
        or (r["answer"] and normalize_answer(r["answer"]) in {normalize_answer(a) for a in q["answers"]})
    ]
    assert len(right) >= 16  # 12 of 14 answerable right and all 6 outside abstain on the core set


def test_follow_up_question_shows_how_it_was_taken(page):
    _ask(page, "Which Japanese prime minister announced his resignation?")
    assert "Shigeru Ishiba" in _all_bot_text(page)
    _ask(page, "On which day did he resign?")
    last = _text(page.locator("#chat [data-testid='bot']").last.inner_text())
    assert "Taken as: On which day did Shigeru Ishiba resign?" in last and "Sunday" in last


def _set_top_k(page, k: int) -> None:
    page.get_by_text("Settings", exact=True).click()
    box = page.locator("#top-k input[type='number']")
    # The slider must hold the value before a question is asked, or the question reads the old top-k. On a
    # loaded machine the first commit is sometimes lost (CI saw it once in ~600 runs), so type it again.
    for attempt in range(3):
        box.fill(str(k))
        box.press("Enter")
        box.press("Tab")  # leaving the box commits the value to the slider
        try:
            page.wait_for_function(
                "k => document.querySelector(\"#top-k input[type='range']\")?.value === String(k)", arg=k,
                timeout=5_000,
            )
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def test_disagreeing_sources_are_shown_with_dates(page):
    _ask(page, "Which Japanese defense minister met Ahn Gyu-back?")
    text = _all_bot_text(page)
    assert "The sources disagree:" in text and "Koizumi" in text and "2026-01-30" in text
    # The other version has its own source card, and its marker shows its evidence.
    cards = _bot_messages(page).last.locator("blockquote")
    theirs = [i for i in range(cards.count()) if "says “" in cards.nth(i).inner_text()]
    assert theirs, "the alternative has no source card"
    card = cards.nth(theirs[0])
    assert "2026-01-30" in " ".join(cards.nth(i).inner_text() for i in theirs)
    number = int(card.locator("a").first.get_attribute("href").rsplit("-", 1)[1])
    said = card.inner_text().split("says “", 1)[1].split("”", 1)[0]
    _click_marker(page, 1, number)
    page.wait_for_function("t => document.querySelector('#evidence .highlighted')?.innerText.trim() === t",
                           arg=said, timeout=20_000)


def test_server_listens_on_loopback_only(server):
    url, _ = server
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"]  # 127.0.0.1, and nothing else


# 200 requests in the default suite (a leak of a few KiB a request shows); the 500-request soak is `-m slow`,
# and the RSS figures themselves are in docs/performance-history.md ("The web server's memory under load").
@pytest.mark.parametrize("requests", [200, pytest.param(500, marks=pytest.mark.slow)])
def test_memory_stays_flat_over_many_requests(server, requests):
    from gradio_client import Client

    url, _ = server
    pid = server_pids[url]
    client = Client(url, verbose=False)
    questions = ["Where did Ahn Gyu-back and Gen Nakatani meet?", "How many sailors were killed in the sinking of the Cheonan?",
                 "What is the name of the South Korean Air Force aerobatic team?", "What is the capital of France?"]
    for i in range(40):  # warm-up: caches, allocator arenas, Gradio's queue
        client.predict(questions[i % 4], 1, "hybrid", 0.15, api_name="/ask")
    before = _rss_kb(pid)
    for i in range(requests):
        client.predict(questions[i % 4], 1, "hybrid", 0.15, api_name="/ask")
    after = _rss_kb(pid)
    print(f"server RSS {before / 1024:.0f} MiB after warm-up, {after / 1024:.0f} MiB after {requests} requests")
    assert after < before * 1.10, (before, after)


def test_questions_are_answered_while_a_large_upload_is_indexed(page, server):
    """Issue 30, item 3: uploads are indexed in a queue of their own, so a slow upload delays only its
    uploader. Asked through /ask while ~190 KB (about 500 passages to embed) is indexed, questions
    keep being answered before the upload is done (32 in 0.2-0.45 s each, one CPU) where in one
    queue the second waited 5.7 s, for all of it. (python -m rag.eval.bench.upload measures it at 1 MB.)"""
    from gradio_client import Client

    url, _ = server
    client = Client(url, verbose=False)
    question = "Where did Ahn Gyu-back and Gen Nakatani meet?"
    assert client.predict(question, api_name="/ask")["answer"] == "Seoul"
    from rag.eval.bench.upload import long_log

    data = long_log(1_450).encode()
    assert 180_000 < len(data) < 200_000  # under the server's max_upload_bytes
    if not page.locator("#upload").is_visible():
        page.get_by_text("Add documents").click()
    page.locator("#upload input[type=file]").set_input_files(
        [{"name": "harbour-log.txt", "mimeType": "text/plain", "buffer": data}])
    done = "Added: uploads/harbour-log.txt"
    answered_meanwhile, seconds = 0, []
    deadline = time.monotonic() + 300
    while done not in page.locator("#upload-status").inner_text():
        assert time.monotonic() < deadline, "the upload did not finish in 300 s"
        started = time.perf_counter()
        answer = client.predict(question, api_name="/ask")["answer"]
        seconds.append(time.perf_counter() - started)
        if done not in page.locator("#upload-status").inner_text():
            assert answer == "Seoul"
            answered_meanwhile += 1
    assert answered_meanwhile >= 5, f"questions waited for the upload ({seconds})"
    assert client.predict("Which freighter arrived from port 1 with 31 containers?", api_name="/ask")["citations"]


# --- The chat, finished (issue 33): one card per sentence, live controls, small refusals, a phone layout


def _box(page, selector: str) -> dict | None:
    return page.evaluate(
        "s => { const e = document.querySelector(s); if (!e || !e.getClientRects().length) return null;"
        " const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }",
        selector)


def _overlap(a: dict | None, b: dict | None) -> bool:
    return bool(a and b and a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"]
                and b["top"] < a["bottom"])


def _phone(browser, server):
    url, _ = server
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#question textarea")
    return context, page


def test_one_card_per_supporting_sentence_with_both_spans_marked(page):
    """001's dateline "SEOUL –" and "in Seoul" are two spans of one sentence: one card, one label."""
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    cards = _bot_messages(page).last.locator("blockquote")
    quotes = [_text(cards.nth(i).inner_text()).split("\n", 1)[1] for i in range(cards.count())]
    assert len(quotes) == len(set(quotes)), quotes
    labels = page.locator("#citations label").all_inner_texts()
    assert len(labels) == len(set(label.split("] ", 1)[1] for label in labels)) == cards.count()
    [seoul] = [i for i, q in enumerate(quotes) if q.lstrip("“").startswith("SEOUL")]
    assert cards.nth(seoul).locator("strong").all_inner_texts()[-2:] == ["SEOUL", "Seoul"]
    _click_marker(page, 1, seoul + 1)
    page.wait_for_function("() => document.querySelectorAll('#evidence .highlighted').length === 2", timeout=20_000)
    assert [t.strip() for t in page.locator("#evidence .highlighted").all_inner_texts()] == ["SEOUL", "Seoul"]


def test_a_marker_clicked_after_a_refused_question_can_open_its_document(page):
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    page.fill("#question textarea", "x" * 2500)
    page.click("#ask-button")
    page.wait_for_function("() => document.querySelectorAll(\"#chat [data-testid='bot']\").length === 2",
                           timeout=ANSWER_TIMEOUT_MS)
    assert "Sorry: the question is 2,500 characters long" in _text(_bot_messages(page).last.inner_text())
    _click_marker(page, 1, 1)
    button = page.locator("#open-document")
    page.wait_for_function("() => !document.querySelector('#open-document').disabled", timeout=10_000)
    assert button.inner_text() == "Open the whole document"
    button.click()
    page.wait_for_selector("#document-view .highlighted")


def test_notices_never_cover_the_evidence_panel(page):
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    page.click("#ask-button")  # nothing typed: a warning
    page.wait_for_selector(".toast-body")
    toast = _box(page, ".toast-wrap")
    assert toast is not None
    for part in ("#evidence-panel", "#open-document", "#citations"):
        assert not _overlap(toast, _box(page, part)), (part, toast, _box(page, part))


def test_an_over_long_question_is_refused_at_once_shown_short_and_counted_as_typed(page):
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    typed = "Where did they sign it? " + "x" * 4976  # a follow-up: rewriting it would make it longer
    page.fill("#question textarea", typed)
    page.click("#ask-button")
    page.wait_for_function("() => document.querySelectorAll(\"#chat [data-testid='bot']\").length === 2",
                           timeout=ANSWER_TIMEOUT_MS)
    shown = _text(page.locator("#chat [data-testid='user']").last.inner_text())
    assert len(shown) < 400 and shown.endswith("(5,000 characters)"), shown[-80:]
    refusal = _text(_bot_messages(page).last.inner_text())
    assert "the question is 5,000 characters long; keep it to 2,000 or fewer" in refusal
    chat, said = _box(page, "#chat"), _bot_messages(page).last.bounding_box()
    assert chat and said and said["y"] + said["height"] <= chat["bottom"] + 1, (chat, said)  # in view, not pushed below


def test_after_a_decline_the_panel_does_not_promise_a_highlight_and_no_timer_shows(page):
    page.evaluate("""() => { window.ragTimers = [];
      new MutationObserver(() => document.querySelectorAll('#chat .progress-text').forEach(e => {
        if (e.offsetParent && e.innerText.trim()) window.ragTimers.push(e.innerText); })
      ).observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
    _ask(page, "Who painted the Mona Lisa?")
    labels = page.locator("#citations label").all_inner_texts()
    assert len(labels) == 3 and len({label.split("] ", 1)[1] for label in labels}) == 3, labels  # no two alike
    title = page.locator("#evidence").inner_text().split("\n", 1)[0]
    assert "the answer is highlighted" not in title and "nothing is highlighted" in title, title
    assert page.evaluate("() => window.ragTimers") == []  # "processing | 0.3/0.1s"
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    assert page.locator("#evidence").inner_text().split("\n", 1)[0] == "Passage (the answer is highlighted)"


def test_cards_quote_a_quoted_sentence_once_and_leave_datelines_out(page):
    _ask(page, "How many musicians are in the South Korean military band that will perform in Japan?")
    _ask(page, "What did the ministers agree to regularize in January 2026?")
    text = _all_bot_text(page)
    assert "““" not in text and "date 2026" not in text


def test_phone_a_marker_shows_its_passage_and_the_way_back(browser, server):
    context, page = _phone(browser, server)
    _ask(page, "Where did Ahn Gyu-back and Gen Nakatani meet?")
    _click_marker(page, 1, 1)
    page.wait_for_function("() => !document.querySelector('#rag-back').hidden", timeout=10_000)
    time.sleep(0.3)
    mark = _box(page, "#evidence .highlighted")
    assert mark and mark["top"] >= 0 and mark["bottom"] <= 844, mark  # the passage's span is in view
    page.click("#rag-back")
    time.sleep(0.5)
    marker = page.locator("#chat a[href='#source-1-1']").first.bounding_box()
    hidden = page.evaluate("() => document.querySelector('#rag-back').hidden")
    context.close()
    assert marker and 0 <= marker["y"] <= 844 - marker["height"], marker  # back at the answer
    assert hidden


def test_phone_the_chats_buttons_cover_no_text(browser, server):
    context, page = _phone(browser, server)
    _ask(page, "Which Japanese prime minister announced his resignation?")
    _ask(page, "How many sailors were killed in the sinking of the Cheonan?")
    page.evaluate("() => window.scrollTo(0, 0)")
    time.sleep(0.5)
    # Each message's box as far as it shows: the chat's scrolling area clips the rest.
    texts = page.evaluate("""() => { const view = document.querySelector('#chat .bubble-wrap').getBoundingClientRect();
      return [...document.querySelectorAll('#chat .message-content, #chat [data-testid=user]')]
        .map(e => e.getBoundingClientRect())
        .map(r => ({left: r.left, top: Math.max(r.top, view.top), right: r.right, bottom: Math.min(r.bottom, view.bottom)}))
        .filter(r => r.top < r.bottom); }""")
    buttons = [_box(page, f"#chat button[aria-label='{label}']") for label in ("Clear", "Scroll down")]
    context.close()
    assert texts and buttons[0], "the Clear button is shown"
    for button in buttons:
        assert not any(_overlap(button, text) for text in texts), (button, texts)
