"""The built website in a real browser (Debian's Chromium), with the network cut off."""

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]

CHAPTERS = [
    "book/intro.html",
    "book/foundations/gradient_descent.html",
    "book/foundations/linear_regression.html",
    "book/foundations/sgd.html",
    "book/foundations/momentum_adaptive.html",
    "book/foundations/newton.html",
    "book/networks/backprop.html",
    "book/networks/cnn.html",
    "book/distributed/splitting.html",
    "book/distributed/offloading.html",
    "book/notation.html",
    "book/glossary.html",
    "book/bibliography.html",
]
#: Chapters with widgets, and how many precomputed-frame widgets each has.
WIDGET_PAGES = {
    "book/foundations/gradient_descent.html": 2,
    "book/foundations/linear_regression.html": 1,
    "book/foundations/sgd.html": 2,
    "book/foundations/momentum_adaptive.html": 2,
    "book/foundations/newton.html": 1,
    "book/networks/backprop.html": 1,
    "book/networks/cnn.html": 2,
    "book/distributed/splitting.html": 1,
    "book/distributed/offloading.html": 2,
}


def _visible_frame_sources(page, widget_index):
    """The src of the picture(s) the widget's stack shows now (each frame has its own URL)."""
    return page.evaluate(
        """(i) => {
            const stack = document.querySelectorAll('.cell_output .frame-stack')[i];
            if (!stack) return null;
            const imgs = [...stack.querySelectorAll('img')].filter(
                (im) => im.offsetParent !== null && im.getBoundingClientRect().height > 0);
            return imgs.map((im) => im.src);
        }""",
        widget_index,
    )


@pytest.mark.parametrize("path", CHAPTERS)
def test_page_loads_without_errors_or_network(page, site_url, path):
    page.goto(f"{site_url}/{path}", wait_until="networkidle")
    assert page.title(), "the page has no title"
    assert page.locator("article h1").count() >= 1, "the page has no heading"
    assert page.console_errors == [], page.console_errors


@pytest.mark.parametrize("path, n_widgets", sorted(WIDGET_PAGES.items()))
def test_every_slider_moves_its_picture(page, site_url, path, n_widgets, tmp_path):
    page.goto(f"{site_url}/{path}", wait_until="networkidle")
    sliders = page.locator(".widget-slider .noUi-handle")
    sliders.first.wait_for(state="visible", timeout=20_000)
    assert sliders.count() == n_widgets
    for i in range(n_widgets):
        before = _visible_frame_sources(page, i)
        assert before and len(before) == 1, f"widget {i}: expected one visible frame, {before}"
        handle = sliders.nth(i)
        handle.scroll_into_view_if_needed()
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(300)
        after = _visible_frame_sources(page, i)
        assert after and len(after) == 1, after
        assert after != before, f"widget {i}: the picture did not change when the slider moved"
        page.keyboard.press("End")
        page.wait_for_timeout(300)
        assert _visible_frame_sources(page, i) not in (before, after)
    page.screenshot(path=str(tmp_path / "chapter.png"), full_page=True)
    assert page.console_errors == [], page.console_errors


def _toc_files(node):
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        for value in node.values():
            yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def test_every_page_of_the_table_of_contents_is_checked():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = {f"{toc['root']}.html"} | {f"{f}.html" for f in _toc_files(toc["parts"])}
    assert pages == set(CHAPTERS)


def _all_visible_frames(page):
    return page.evaluate(
        """() => [...document.querySelectorAll('.cell_output .frame-stack')].map((stack) =>
            [...stack.querySelectorAll('img')]
              .filter((im) => im.offsetParent !== null && im.getBoundingClientRect().height > 0)
              .map((im) => im.src).join(' '))"""
    )


#: Pages with Play buttons, and how many (an animation that vanished must fail a test).
PLAY_PAGES = {
    "book/foundations/sgd.html": 1,
    "book/foundations/newton.html": 1,
    "book/networks/backprop.html": 1,
    "book/networks/cnn.html": 1,
    "book/distributed/splitting.html": 1,
}


@pytest.mark.parametrize("path", sorted(WIDGET_PAGES))
def test_every_play_button_animates_its_frames(page, site_url, path):
    page.goto(f"{site_url}/{path}", wait_until="networkidle")
    page.locator(".widget-slider .noUi-handle").first.wait_for(state="visible", timeout=20_000)
    # The first button of a Play widget is "play" (its icon is an svg on this theme).
    plays = page.locator(".widget-play")
    assert plays.count() == PLAY_PAGES.get(path, 0)
    for i in range(plays.count()):
        before = _all_visible_frames(page)
        button = plays.nth(i).locator("button").first
        button.scroll_into_view_if_needed()
        button.click()
        page.wait_for_timeout(1500)
        assert _all_visible_frames(page) != before, f"Play button {i} did not change any frame"
    assert page.console_errors == [], page.console_errors


#: Every block of code or printed output, with collapsed dropdowns and hidden inputs opened.
_CUT_OFF_LINES = """() => {
    document.querySelectorAll('details').forEach((d) => { d.open = true; });
    document.querySelectorAll('.toggle-hidden').forEach((e) => e.classList.remove('toggle-hidden'));
    return [...document.querySelectorAll('article div.highlight pre')]
        .filter((pre) => pre.getClientRects().length > 0 && pre.scrollWidth > pre.clientWidth + 1)
        .map((pre) => pre.textContent.split('\\n')
            .reduce((a, b) => (a.length >= b.length ? a : b)));
}"""


@pytest.mark.parametrize("path", CHAPTERS)
def test_no_code_line_is_cut_off_at_1280_px(page, site_url, path):
    """A reader at 1280 px sees every code line whole: no block needs horizontal scrolling
    (the ``page`` fixture's viewport is 1280 px wide). Reports the longest line of each block
    that overflows."""
    assert page.viewport_size["width"] == 1280
    page.goto(f"{site_url}/{path}", wait_until="networkidle")
    page.wait_for_timeout(200)
    assert page.evaluate(_CUT_OFF_LINES) == []
