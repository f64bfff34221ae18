"""The web page as a shopper uses it (issue 18), in Debian's chromium at a 390x844 phone and a
1280x900 desktop: layout, sessions a shopper can see, filters and preferences, sort, URL state,
the product view, honest empty answers, and an axe-core audit with no serious or critical
violation. Screenshots of each journey go to ``$SHOPSEARCH_ARTIFACTS/screenshots`` (CI keeps
``.ci-artifacts``) or a pytest tmp dir."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.optional import need_module

from ..conftest import CHROMIUM, CHROMIUM_ARGS, needs_chromium

pytestmark = [needs_chromium, pytest.mark.slow]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ["SHOPSEARCH_ARTIFACTS"]) / "screenshots" if os.environ.get("SHOPSEARCH_ARTIFACTS") \
        else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    sync_api = need_module("browser", "playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url: str, size: dict[str, int], locale: str = "en-US"):  # type: ignore[no-untyped-def]
    phone = size["width"] < 500
    context = browser.new_context(viewport=size, locale=locale, bypass_csp=True, is_mobile=phone, has_touch=phone)
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.goto(url)
    pg.wait_for_selector("body[data-ready=true]")
    return pg


@pytest.fixture(params=["phone", "desktop"])
def page(request, browser, live_server):  # type: ignore[no-untyped-def]
    pg = open_page(browser, live_server.url + "/", PHONE if request.param == "phone" else DESKTOP)
    pg.size_name = request.param
    yield pg
    pg.context.close()
    assert not pg.errors, pg.errors


def done(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function("(() => { const s = document.querySelector('#results-title').textContent; "
                           "return !s.includes('…') && (s.length > 0 || !document.querySelector('#empty').hidden "
                           "|| !document.querySelector('#error').hidden); })()")


def search(page, text: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("#q", text)
    page.press("#q", "Enter")
    done(page)


def card_ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.productId)")


def chips(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(".chip", "els => els.map(e => e.textContent)")


def settle(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "[...document.querySelectorAll('.card img')].slice(0, 4).every(i => i.complete && i.naturalWidth > 0)")


def axe(page, shots: Path, name: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Serious and critical axe-core violations of the page as it is now (all are saved)."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    (shots / f"axe-{name}.json").write_text(json.dumps(
        [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]} for v in found], indent=1))
    return [v for v in found if v["impact"] in ("serious", "critical")]


def bad_targets(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Visible buttons, links and selects smaller than 44x44 px (inline text links excepted)."""
    return page.evaluate("""() => [...document.querySelectorAll('button, select, .thumb, input[type=search]')]
        .filter(el => el.offsetParent !== null)
        .map(el => [el, el.getBoundingClientRect()])
        .filter(([el, r]) => r.height < 43.5 || r.width < 43.5)
        .map(([el, r]) => (el.id || el.className) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height))""")


def test_layout_fits_and_passes_axe(page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    name = page.size_name
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.inner_text("h1") and page.get_attribute("#q", "aria-label") is None  # named by its <label>
    assert page.evaluate("document.querySelector('label[for=q]').textContent") == "Search products"
    assert not axe(page, shots, f"{name}-start")
    page.screenshot(path=str(shots / f"j-{name}-01-start.png"))
    search(page, "shirt")
    settle(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    top = page.evaluate("document.querySelector('.card img').getBoundingClientRect().top + scrollY")
    assert top <= 1.5 * page.viewport_size["height"]
    assert "ms" not in page.inner_text("#results-title")  # no timings for shoppers
    assert not bad_targets(page), bad_targets(page)
    like = page.locator(".card").first.locator(".like")
    assert like.get_attribute("aria-label") == "Like " + page.locator(".card .title").first.inner_text()
    assert not axe(page, shots, f"{name}-results")
    page.screenshot(path=str(shots / f"j-{name}-02-results.png"), full_page=True)
    if name == "phone":
        columns = page.evaluate(
            "getComputedStyle(document.querySelector('#results')).gridTemplateColumns.split(' ').length")
        assert columns == 2
        assert not page.is_visible("#facets")  # filters live in a drawer
        page.click("#filters-btn")
        assert page.is_visible("#facets") and page.get_attribute("#filters-btn", "aria-expanded") == "true"
        assert not axe(page, shots, "phone-drawer")
        page.screenshot(path=str(shots / "j-phone-03-drawer.png"))
    else:
        assert page.is_visible("#facets") and not page.is_visible("#filters-btn")
    # a facet click keeps focus on the control used, and its chip says it is a filter
    page.focus(".facet-value[data-field=gender][data-value=Men]")
    page.keyboard.press("Enter")
    page.wait_for_selector(".chip.filter")
    page.wait_for_function("document.activeElement.dataset.value === 'Men'")
    assert "Filter" in page.text_content(".chip.filter")
    if name == "phone":
        assert page.is_visible("#facets")  # the drawer stays open while choosing
        page.click("#facets-done")
        assert not page.is_visible("#facets")
        assert page.evaluate("document.activeElement.id") == "filters-btn"
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_skip_link_and_escape(page) -> None:  # type: ignore[no-untyped-def]
    search(page, "shirt")
    page.focus("#q")
    page.keyboard.press("Escape")
    assert page.input_value("#q") == "shirt"  # Escape closes suggestions, never wipes the words
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_paging_keeps_the_ranking_and_url_state_and_back(browser, live_server, shots: Path) -> None:  # type: ignore[no-untyped-def]
    pg = open_page(browser, live_server.url + "/?k=2", PHONE)
    search(pg, "shirt")
    seen, total = card_ids(pg), pg.inner_text("#results-title")
    for n in (2, 3, 4):
        if pg.is_disabled("#next"):
            break
        pg.click("#next")
        pg.wait_for_function(f"document.querySelector('#page-info').textContent.startsWith('Page {n}')")
        done(pg)
        assert not set(card_ids(pg)) & set(seen) and pg.inner_text("#results-title") == total
        seen += card_ids(pg)
    assert "q=shirt" in pg.url and "page=" in pg.url
    pg.screenshot(path=str(shots / "j-phone-04-page.png"))
    pg.go_back()
    pg.wait_for_function("document.querySelector('#page-info').textContent.startsWith('Page ') && "
                         "!document.querySelector('#page-info').textContent.startsWith('Page 4')")
    shared = pg.url
    # the URL alone brings the same view back (shared, or after a reload)
    other = open_page(browser, shared, DESKTOP)
    done(other)
    other.wait_for_selector(".card")
    assert card_ids(other) == card_ids(pg)
    other.context.close()
    pg.context.close()


def test_sort_and_multi_select_facets(page) -> None:  # type: ignore[no-untyped-def]
    search(page, "shirt")
    first = card_ids(page)
    page.select_option("#sort", "price_asc")
    page.wait_for_function("location.search.includes('sort=price_asc')")
    done(page)
    prices = [float(p.strip("$").replace("USD", "").strip() or 0)
              for p in page.eval_on_selector_all(".card .price", "els => els.map(e => e.textContent)")]
    assert prices == sorted(prices) and set(card_ids(page)) == set(first)
    page.select_option("#sort", "relevance")
    page.wait_for_function("!location.search.includes('sort=')")
    done(page)
    assert card_ids(page) == first  # the ranking shown first comes back unchanged
    if page.size_name == "phone":
        page.click("#filters-btn")
    page.click(".facet-value[data-field=gender][data-value=Men]")
    page.wait_for_selector(".facet-value[data-field=gender][data-value=Men][aria-pressed=true]")
    done(page)
    page.click(".facet-value[data-field=gender][data-value=Women]")
    page.wait_for_selector(".facet-value[data-field=gender][data-value=Women][aria-pressed=true]")
    done(page)
    assert page.get_attribute(".facet-value[data-field=gender][data-value=Men]", "aria-pressed") == "true"
    assert card_ids(page) == first and len(page.query_selector_all(".chip.filter")) == 2


def test_preference_versus_filter_chips(page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    search(page, "red shirt for men")
    page.wait_for_selector(".chip.pref")
    pref = page.locator(".chip.pref", has_text="Colour: Red")
    assert "Prefer" in pref.text_content()
    assert pref.evaluate("e => getComputedStyle(e).borderStyle") == "dashed"
    page.screenshot(path=str(shots / f"j-{page.size_name}-05-preferences.png"))
    pref.locator(".make-filter").click()
    page.wait_for_selector(".chip.required")
    done(page)
    assert "Filter" in page.text_content(".chip.required") and "Red" in page.text_content(".chip.required")
    assert page.locator(".chip.required").evaluate("e => getComputedStyle(e).borderStyle") == "solid"
    assert all("Red" in a for a in page.eval_on_selector_all(".card .attrs", "els => els.map(e => e.textContent)"))


def test_photo_turns_and_a_bad_upload(page, shop_images: Path, tmp_path: Path, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page.fill("#q", "in blue")
    page.set_input_files("#image-input", str(shop_images / "p3.png"))
    page.wait_for_selector(".chip.photo")
    done(page)
    assert any("Blue" in c for c in chips(page))  # the words that shape a photo search are chips too
    # a new photo with an empty box is a new turn: nothing of "in blue" stays
    page.fill("#q", "")
    page.set_input_files("#image-input", str(shop_images / "p5.png"))
    page.wait_for_function("document.querySelector('.card')?.dataset.productId === 'p5'")
    assert not any("Blue" in c for c in chips(page))
    # removing the photo with an empty box goes back to the start, not to "no products"
    page.click(".chip.photo .chip-btn.x")
    page.wait_for_function("!document.querySelector('.card')")
    assert page.is_hidden("#empty") and page.is_hidden("#image-preview")
    # a picture that is not one: a plain message, and the photo does not stay attached
    fake = tmp_path / "holiday.png"
    fake.write_bytes(b"this is not a picture")
    page.set_input_files("#image-input", str(fake))
    page.wait_for_selector("#error:not([hidden])")
    assert "could not read that picture" in page.inner_text("#error") and "(" not in page.inner_text("#error")
    assert page.is_hidden("#image-preview")
    page.screenshot(path=str(shots / f"j-{page.size_name}-06-bad-photo.png"))
    search(page, "shoes")
    assert page.is_hidden("#error") and card_ids(page)


def test_nonsense_gets_an_honest_answer_and_a_way_out(page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    search(page, "red shirt")
    search(page, "xyzzy")
    page.wait_for_selector("#empty:not([hidden])")
    assert "No good match for “xyzzy”" in page.inner_text("#empty")
    assert not card_ids(page) and not page.query_selector(".chip.pref")  # not the last query again
    assert not axe(page, shots, f"{page.size_name}-weak")
    page.screenshot(path=str(shots / f"j-{page.size_name}-07-no-good-match.png"))
    page.click("#empty button >> text=Show the closest products anyway")
    page.wait_for_selector(".card")
    search(page, "🙂")
    page.wait_for_selector("#empty:not([hidden])")
    assert not card_ids(page)


def test_zero_results_offer_to_relax(browser, live_server, shots: Path) -> None:  # type: ignore[no-untyped-def]
    # a shared link whose filters leave nothing: say so, and offer to drop them
    pg = open_page(browser, live_server.url + "/?q=shoes&f=base_colour:Purple&f=gender:Men", PHONE)
    pg.wait_for_selector("#empty:not([hidden])")
    assert "No products match" in pg.inner_text("#empty") and len(pg.query_selector_all(".chip.filter")) == 2
    pg.screenshot(path=str(shots / "j-phone-10-zero.png"))
    pg.click("#empty button >> text=Remove all filters")
    pg.wait_for_function("!document.querySelector('.chip.filter')")
    pg.wait_for_selector(".card")
    assert "f=" not in pg.url
    pg.context.close()


def test_product_view_back_and_more_like_this(page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    search(page, "red tshirt")
    title = page.locator(".card .title").first.inner_text()
    page.locator(".card .title-link").first.click()
    page.wait_for_selector("#product-view[open]")
    assert page.inner_text("#pv-title") == title and "Gender" in page.inner_text("#pv-attrs")
    assert "p=" in page.url
    assert page.locator("#pv-actions .like").get_attribute("aria-label") == f"Like {title}"
    assert not axe(page, shots, f"{page.size_name}-product")
    page.screenshot(path=str(shots / f"j-{page.size_name}-08-product.png"))
    page.go_back()  # Back closes the view and stays on the results
    page.wait_for_selector("#product-view:not([open])", state="attached")
    assert "p=" not in page.url and card_ids(page)
    page.locator(".card .title-link").first.click()
    page.wait_for_selector("#product-view[open]")
    page.click("#pv-actions .more-like-this")
    page.wait_for_selector(".chip.similar")
    assert title in page.inner_text(".chip.similar")


def test_reload_shows_the_context_it_searches_with(page, live_server) -> None:  # type: ignore[no-untyped-def]
    search(page, "red shirt")
    page.reload()  # the URL's query again, in a fresh session: its chips are on show
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector(".chip.pref")
    assert any("Red" in c for c in chips(page))
    page.goto(live_server.url + "/")  # a fresh page has no hidden context
    page.wait_for_selector("body[data-ready=true]")
    search(page, "for men")
    assert not any("Red" in c for c in chips(page)), chips(page)


def test_cheaper_without_prices_says_why(page) -> None:  # type: ignore[no-untyped-def]
    # this catalogue has prices, so the server's note is put in the answer on its way back
    def add_note(route):  # type: ignore[no-untyped-def]
        body = route.fetch().json()
        if body.get("session"):
            body["session"]["note"] = "no prices to compare: the results shown have no price"
        route.fulfill(json=body)

    page.route("**/v1/search", add_note)
    search(page, "cheaper")
    assert "needs prices" in page.inner_text("#note")


def test_a_budget_on_products_without_prices_says_why(page) -> None:  # type: ignore[no-untyped-def]
    def no_prices(route):  # type: ignore[no-untyped-def]
        body = route.fetch().json()
        body["sorts"] = ["relevance"]  # what a catalogue without prices answers
        for hit in body["hits"]:
            hit["product"]["price"] = None
        route.fulfill(json=body)

    page.route("**/v1/search", no_prices)
    search(page, "shirt under 30")
    assert any("Price" in c for c in chips(page))
    assert "have no prices" in page.inner_text("#note")


def test_chinese_ui_translates_catalogue_values(page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    page.click("#ui-lang")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
    search(page, "男士黑色皮鞋")
    assert "性别" in page.inner_text("#facets") or page.size_name == "phone"
    facets = page.eval_on_selector_all(".facet-value .name", "els => els.map(e => e.textContent)")
    assert "男士" in facets and "Men" not in facets
    assert "偏好" in page.inner_text("#chips")
    assert not axe(page, shots, f"{page.size_name}-zh")
    page.screenshot(path=str(shots / f"j-{page.size_name}-09-chinese.png"))
    page.click("#ui-lang")  # back to English for the other tests (stored in localStorage)
