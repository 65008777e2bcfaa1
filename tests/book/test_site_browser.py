"""The built website in a real browser (Debian's Chromium), with the network cut off."""

import pytest

pytestmark = pytest.mark.browser

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
]
#: Chapters with widgets, and how many precomputed-frame widgets each has.
WIDGET_PAGES = {
    "book/foundations/gradient_descent.html": 2,
    "book/foundations/linear_regression.html": 1,
    "book/foundations/sgd.html": 2,
    "book/foundations/momentum_adaptive.html": 1,
    "book/foundations/newton.html": 1,
    "book/networks/backprop.html": 1,
    "book/networks/cnn.html": 2,
    "book/distributed/splitting.html": 1,
    "book/distributed/offloading.html": 1,
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
