"""The web page in a real browser: Debian's chromium driven by Python playwright against the
real server on 127.0.0.1. Screenshots go to ``$SHOPSEARCH_ARTIFACTS`` (or a pytest tmp dir)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.optional import need_module, unavailable

from ..conftest import CHROMIUM, CHROMIUM_ARGS, needs_chromium

ARGS = CHROMIUM_ARGS
pytestmark = [needs_chromium, pytest.mark.slow]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ["SHOPSEARCH_ARTIFACTS"]) / "screenshots" if os.environ.get("SHOPSEARCH_ARTIFACTS") \
        else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def playwright():  # type: ignore[no-untyped-def]
    sync_api = need_module("browser", "playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):  # type: ignore[no-untyped-def]
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()


@pytest.fixture()
def page(browser, live_server):  # type: ignore[no-untyped-def]
    # bypass_csp: the page's CSP forbids eval, which playwright's wait_for_function uses
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", bypass_csp=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(live_server.url + "/")
    pg.wait_for_selector("body[data-ready=true]")
    yield pg
    context.close()
    assert not errors, errors


def card_ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.productId)")


def settle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until the photos of the first row of cards have loaded (before a screenshot)."""
    page.wait_for_function(
        "[...document.querySelectorAll('.card img')].slice(0, 4).every(i => i.complete && i.naturalWidth > 0)")


def wait_first_card(page, product_id: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"document.querySelector('.card')?.dataset.productId === '{product_id}'")


def search(page, text: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("#q", text)
    page.press("#q", "Enter")
    page.wait_for_function("document.querySelector('#results-title').textContent.length > 0 && "
                           "!document.querySelector('#results-title').textContent.includes('…')")


def test_english_query_autocomplete_facet_and_more_like_this(page, live_server, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page.fill("#q", "bla")
    page.wait_for_selector("#suggestions li")
    assert "Black" in page.inner_text("#suggestions")
    page.screenshot(path=str(shots / "01-autocomplete.png"))
    page.click("#suggestions li >> text=Black Leather Formal Shoes")
    page.wait_for_selector(".card")
    assert card_ids(page)[0] == "p3"

    search(page, "red tshirt")
    assert card_ids(page)[0] == "p1"
    first = page.locator(".card").first
    assert first.locator(".title").inner_text() == "Red Cotton Tshirt for Men"
    assert "19.00" in first.locator(".price").inner_text() and "Men" in first.locator(".attrs").inner_text()
    assert page.evaluate("document.querySelector('.card img').naturalWidth") > 0  # image served
    settle(page)
    page.screenshot(path=str(shots / "02-english-results.png"))

    counts = page.inner_text(".facet[data-field=gender]")
    assert "Men" in counts and "Women" in counts
    page.click(".facet-value[data-field=gender][data-value=Men]")
    page.wait_for_selector(".chip.filter")
    page.wait_for_function("[...document.querySelectorAll('.card .attrs')].every(e => e.textContent.includes('Men'))")
    assert set(card_ids(page)) <= {"p1", "p3", "p7"}
    assert page.get_attribute(".facet-value[data-field=gender][data-value=Men]", "aria-pressed") == "true"
    settle(page)
    page.screenshot(path=str(shots / "03-facet-men.png"))
    page.click(".chip.filter .chip-btn.x")  # remove the chip: the filter goes
    page.wait_for_function("!document.querySelector('.chip.filter')")

    page.locator(".card").first.locator(".more-like-this").click()
    page.wait_for_selector(".chip.similar")
    assert "Red Cotton Tshirt for Men" in page.inner_text(".chip.similar")
    page.wait_for_function("![...document.querySelectorAll('.card')].some(c => c.dataset.productId === 'p1')")
    assert len(card_ids(page)) >= 3
    settle(page)
    page.screenshot(path=str(shots / "04-more-like-this.png"))

    page.locator(".card").first.locator(".like").click()
    page.wait_for_selector(".card .like[aria-pressed=true]")
    db = live_server.server.config.app.state.service.settings.feedback_path
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM events WHERE event='like'").fetchone()[0] >= 1


def test_chinese_query_and_chinese_ui(page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page.click("#ui-lang")
    assert page.inner_text("#search-btn") == "搜索"
    assert page.get_attribute("#q", "placeholder").startswith("搜索商品")
    search(page, "男士黑色皮鞋")
    assert card_ids(page)[0] == "p3"
    assert "件商品" in page.inner_text("#results-title")
    assert page.inner_text(".card .more-like-this") == "找相似"
    assert "性别" in page.inner_text("#facets")
    settle(page)
    page.screenshot(path=str(shots / "05-chinese.png"))
    page.click("#ui-lang")  # back to English for the other tests (stored in localStorage)


def test_a_corrected_query_shows_what_was_searched(page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    search(page, "blak lether shoes")
    assert page.is_visible("#corrected")
    assert "black leather shoes" in page.inner_text("#corrected")
    search(page, "black leather shoes")
    assert not page.is_visible("#corrected")


def test_session_chips_follow_ups_and_dislike(page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    search(page, "red tshirt for men")
    page.wait_for_selector(".chip.parsed")
    chips = page.locator(".chip.parsed").all_inner_texts()
    assert any("Colour: Red" in c for c in chips) and any("Gender: Men" in c for c in chips)
    settle(page)
    page.screenshot(path=str(shots / "05b-chips.png"))
    # removing a chip edits the session's query and runs it again
    page.locator(".chip.parsed", has_text="Colour: Red").locator(".chip-btn.x").click()
    page.wait_for_function("![...document.querySelectorAll('.chip.parsed')].some(c => c.textContent.includes('Red'))")
    assert any("Gender: Men" in c for c in page.locator(".chip.parsed").all_inner_texts())
    # a follow-up refines the query instead of replacing it (Chinese too)
    search(page, "不要黑色")
    page.wait_for_function(
        "[...document.querySelectorAll('.chip.parsed')].some(c => c.textContent.includes('not Black'))")
    page.wait_for_function(
        "[...document.querySelectorAll('.card .attrs')].every(e => !e.textContent.includes('Black'))")
    assert any("Gender: Men" in c for c in page.locator(".chip.parsed").all_inner_texts())
    # a dislike hides the product for the rest of the session
    first = card_ids(page)[0]
    page.locator(".card").first.locator(".dislike").click()
    page.wait_for_function(f"![...document.querySelectorAll('.card')].some(c => c.dataset.productId === '{first}')")
    page.wait_for_selector(".chip.hidden")
    settle(page)
    page.screenshot(path=str(shots / "05c-session.png"))
    page.click(".reset")  # start over: chips, results and the box are cleared
    page.wait_for_function("!document.querySelector('.chip') && !document.querySelector('.card')")
    assert page.input_value("#q") == ""


def test_image_upload_and_errors(page, shop_images: Path, tmp_path: Path, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page.set_input_files("#image-input", str(shop_images / "p3.png"))
    page.wait_for_selector(".chip.photo")
    wait_first_card(page, "p3")
    assert page.is_visible("#image-preview")
    settle(page)
    page.screenshot(path=str(shots / "06-image-search.png"))
    page.click(".chip.photo .chip-btn.x")
    page.wait_for_function("!document.querySelector('.chip.photo')")

    # a file that claims to be an image but is not: a message a person can read, no crash
    fake = tmp_path / "holiday.png"
    fake.write_bytes(b"this is not a picture")
    page.set_input_files("#image-input", str(fake))
    page.wait_for_selector("#error:not([hidden])")
    assert "could not read that picture" in page.inner_text("#error")
    assert page.is_hidden("#image-preview")  # a bad photo does not stay attached
    page.screenshot(path=str(shots / "07-error.png"))

    page.fill("#q", "   ")
    page.press("#q", "Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert "type something" in page.inner_text("#error")


def test_drag_and_drop_image(page, shop_images: Path) -> None:  # type: ignore[no-untyped-def]
    data = list((shop_images / "p5.png").read_bytes())
    page.evaluate(
        """(bytes) => {
            const file = new File([new Uint8Array(bytes)], 'bag.png', {type: 'image/png'});
            const dt = new DataTransfer();
            dt.items.add(file);
            const box = document.querySelector('#drop-zone');
            for (const type of ['dragenter', 'dragover', 'drop']) {
                box.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
            }
        }""",
        data,
    )
    wait_first_card(page, "p5")


def test_paging(browser, live_server, shots: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    pg = context.new_page()
    pg.goto(live_server.url + "/?k=3")
    pg.wait_for_selector("body[data-ready=true]")
    search(pg, "shirt")
    first = card_ids(pg)
    assert len(first) == 3 and pg.is_visible("#pager") and pg.is_disabled("#prev")
    assert pg.inner_text("#page-info").startswith("Page 1 of")
    pg.click("#next")
    pg.wait_for_function("document.querySelector('#page-info').textContent.startsWith('Page 2')")
    second = card_ids(pg)
    assert len(second) == 3 and not set(first) & set(second)
    pg.screenshot(path=str(shots / "08-page-2.png"))
    pg.click("#prev")
    pg.wait_for_function("document.querySelector('#page-info').textContent.startsWith('Page 1')")
    assert card_ids(pg) == first
    context.close()


def test_microphone_recording_is_uploaded_and_transcribed(playwright, live_server, tmp_path: Path, shots: Path) -> None:  # type: ignore[no-untyped-def]
    """The mic button records through MediaRecorder; chromium's fake capture device plays a
    WAV spoken by espeak-ng into it."""
    from tests.voice.audio import ESPEAK, speak

    if ESPEAK is None:
        unavailable("voice", "needs Debian's espeak-ng (apt-get install espeak-ng)")
    if live_server.server.config.app.state.service.voice_reason:
        unavailable("voice", live_server.server.config.app.state.service.voice_reason)
    wav = tmp_path / "speech.wav"
    wav.write_bytes(speak("red cotton t-shirt"))
    args = [*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop"]
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    try:
        context = b.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        context.grant_permissions(["microphone"], origin=live_server.url)
        pg = context.new_page()
        pg.goto(live_server.url + "/")
        pg.wait_for_selector("body[data-ready=true]")
        pg.select_option("#voice-lang", "en")
        pg.click("#mic-btn")
        pg.wait_for_selector("#mic-btn.recording")
        pg.wait_for_timeout(2500)
        pg.click("#mic-btn")
        pg.wait_for_selector("#transcript:not([hidden])", timeout=60_000)
        assert "red" in pg.inner_text("#transcript").lower()
        assert "red" in pg.input_value("#q").lower()
        pg.wait_for_selector(".card")
        assert card_ids(pg)[0] == "p1"
        pg.screenshot(path=str(shots / "09-voice.png"))
    finally:
        b.close()
