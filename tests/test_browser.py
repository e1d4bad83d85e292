"""The HTML report in a real browser: headless Chromium loads it, each learning-rate
slider redraws its path, loss curve and verdict, hover read-outs appear on the training
curves, the console shows no error, and without JavaScript the static figures remain.

Needs Chromium and its driver (Debian: ``apt-get install chromium chromium-driver``) and
selenium. Where they are missing these tests skip, saying so; under CI (``CI`` set) a
missing browser fails them instead, so CI cannot pass without running them. All carry
the ``browser`` marker (``pytest -m browser`` runs just them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

INSTALL = "apt-get install chromium chromium-driver (and selenium in the environment)"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1000",
)  # fmt: skip
RECORD_ERRORS = (
    "window.__errors = [];"
    "window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });"
)


def _unavailable(message: str) -> None:
    message = f"{message}; install with: {INSTALL}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {message}")
    pytest.skip(message)


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed")
    binary = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if binary is None or driver_path is None:
        _unavailable("no Chromium or no chromedriver found")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_ERRORS})
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver: Any, path: Path, *, javascript: bool = True) -> None:
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": not javascript})
    driver.get(path.as_uri())
    driver.get_log("browser")  # start each page with an empty log


def console_errors(driver: Any) -> list[str]:
    severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return severe + list(driver.execute_script("return window.__errors || []"))


def curves_figure(out: Path) -> tuple[Path, dict[str, Any]]:
    from gradlab.history import History
    from gradlab.viz.curves import readout
    from gradlab.viz.save import save_figure

    h = History()
    for e in range(1, 9):
        h.append(epoch=e, train_loss=1 / e, train_accuracy=1 - 0.4 / e, test_loss=1.2 / e,
                 test_accuracy=1 - 0.5 / e, seconds=0.01)  # fmt: skip
    fig = h.plot(model="MLP", dataset="toy")
    path = save_figure(fig, out / "curves.png")
    return path, readout(fig, h.columns)


@pytest.fixture(scope="module")
def small_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report with both sliders over a few rates and one figure with read-outs."""
    from gradlab.data.points import make_line
    from gradlab.functions import parse_function
    from gradlab.tour import descent_rate_data, linreg_rate_data
    from gradlab.viz.report import Section, write_report

    out = tmp_path_factory.mktemp("report")
    f = parse_function("x**2*sin(x)")
    points = make_line(40, w=1.5, b=4.0, noise=1.0, seed=0)
    png, data = curves_figure(out)
    one = (
        Section("1. Descent")
        .see("a slider")
        .widget("descent-rate", descent_rate_data(f, 4.0, [0.001, 0.01, 0.1, 1.0], steps=60))
    )
    two = Section("2. Linear regression").widget(
        "linreg-rate", linreg_rate_data(points, [1e-4, 1e-3, 0.01, 0.03], epochs=1000)
    )
    three = Section("3. Curves").image(png, "hover me", readout=data).reproduce("gradlab tour")
    return write_report(out / "report.html", "test report", [one, two, three])


def slide_through(driver: Any, widget: Any) -> list[tuple[str, str, str, str]]:
    """Move the widget's slider from the first rate to the last with the keyboard; at
    each position return (verdict kind, verdict text, path data, loss data)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    slider = widget.find_element(By.CSS_SELECTOR, "input[type=range]")
    slider.send_keys(Keys.HOME)
    seen = []
    for _ in range(int(slider.get_attribute("max")) + 1):
        verdict = widget.find_element(By.CSS_SELECTOR, ".verdict")
        seen.append((
            verdict.get_attribute("data-verdict"),
            verdict.text,
            widget.find_element(By.CSS_SELECTOR, "path.path").get_attribute("d"),
            widget.find_element(By.CSS_SELECTOR, "path.loss").get_attribute("d"),
        ))  # fmt: skip
        slider.send_keys(Keys.ARROW_RIGHT)
    return seen


def test_each_slider_redraws_its_path_loss_curve_and_verdict(
    browser: Any, small_report: Path
) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, small_report)
    descent = browser.find_element(By.CSS_SELECTOR, "[data-widget='descent-rate']")
    linreg = browser.find_element(By.CSS_SELECTOR, "[data-widget='linreg-rate']")
    assert descent.is_displayed()
    assert linreg.is_displayed()
    for widget, kinds in (
        (descent, ["too slow", "converged", "oscillating", "diverged"]),
        (linreg, ["too slow", "too slow", "converged", "diverged"]),
    ):
        seen = slide_through(browser, widget)
        assert [s[0] for s in seen] == kinds
        assert len({s[1] for s in seen}) == len(seen)  # a verdict sentence per rate
        assert len({s[2] for s in seen}) == len(seen)  # a different path per rate
        assert len({s[3] for s in seen}) == len(seen)  # a different loss curve per rate
        assert all(s[2].startswith("M") for s in seen)
    assert console_errors(browser) == []


def test_the_descent_sliders_loss_curve_fills_its_chart_at_every_rate(
    browser: Any, small_report: Path
) -> None:
    """The loss chart kept the function's whole range, on which a run that moves little
    was a flat line along the bottom."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, small_report)
    widget = browser.find_element(By.CSS_SELECTOR, "[data-widget='descent-rate']")
    slider = widget.find_element(By.CSS_SELECTOR, "input[type=range]")
    slider.send_keys(Keys.HOME)
    shares = []
    for _ in range(int(slider.get_attribute("max")) + 1):
        share = browser.execute_script(
            "var loss = arguments[0].querySelector('path.loss');"
            "var frame = loss.closest('svg').querySelector('clipPath rect');"
            "return loss.getBBox().height / frame.getBBox().height;",
            widget,
        )
        shares.append(share)
        slider.send_keys(Keys.ARROW_RIGHT)
    assert all(share > 0.6 for share in shares), shares
    assert len(widget.find_elements(By.CSS_SELECTOR, "path.loss")) == 1  # one chart, redrawn
    assert console_errors(browser) == []


def test_the_loss_charts_range_leaves_out_values_that_were_not_finite(
    browser: Any, tmp_path: Path
) -> None:
    """A value that was not finite is null on the page, and isFinite(null) is true: the
    range took it for 0."""

    from gradlab.functions import parse_function
    from gradlab.tour import descent_rate_data
    from gradlab.viz.report import Section, write_report

    data = descent_rate_data(parse_function("x**2"), 4.0, [0.1], steps=5)
    data["rates"][0]["f"] = [16.0, 10.0, 6.0, None, None, None]
    data["view"]["y"] = [-5.0, 40.0]
    page = write_report(tmp_path / "r.html", "nulls", [Section("1").widget("descent-rate", data)])
    open_page(browser, page)
    ticks = browser.execute_script(
        "var svg = document.querySelector('path.loss').closest('svg');"
        "return Array.from(svg.querySelectorAll('text[text-anchor=end]'))"
        ".map(t => t.textContent);"  # the y axis's labels
    )
    numbers = [float(t) for t in ticks if t.replace(".", "", 1).lstrip("-").isdigit()]
    assert numbers, ticks
    assert min(numbers) >= 5, ticks  # 6 to 16 with a margin; not down to 0
    assert console_errors(browser) == []


def test_hover_reads_out_every_curve_at_the_nearest_epoch(browser: Any, small_report: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    open_page(browser, small_report)
    wrap = browser.find_element(By.CSS_SELECTOR, ".readout-wrap")
    tip = wrap.find_element(By.CSS_SELECTOR, ".readout-tip")
    assert not tip.is_displayed()
    data = browser.execute_script("return JSON.parse(arguments[0].dataset.readout)", wrap)
    box = data["axes"][0]["box"]  # the loss axes; aim at epoch 1 and then at epoch 8
    size = wrap.size
    texts = []
    for fraction in (0.0, 1.0):
        fx = box[0] + (box[2] - box[0]) * (0.03 + 0.94 * fraction)
        fy = (box[1] + box[3]) / 2
        x, y = fx * size["width"] - size["width"] / 2, fy * size["height"] - size["height"] / 2
        browser.execute_script("arguments[0].scrollIntoView()", wrap)
        ActionChains(browser).move_to_element_with_offset(wrap, int(x), int(y)).perform()
        assert tip.is_displayed()
        texts.append(tip.text)
    assert texts[0].splitlines() == [
        "epoch 1", "train loss (epoch mean)  1.0000", "test loss  1.2000",
        "train accuracy (epoch mean)  0.6000", "test accuracy  0.5000",
    ]  # fmt: skip
    assert texts[1].splitlines()[:2] == ["epoch 8", "train loss (epoch mean)  0.1250"]
    rules = wrap.find_elements(By.CSS_SELECTOR, ".readout-rule")
    assert len(rules) == 2
    assert all(r.is_displayed() for r in rules)  # a rule on the accuracy axes too
    assert console_errors(browser) == []


def test_a_click_shows_a_figure_at_its_own_size_and_escape_closes_it(
    browser: Any, small_report: Path
) -> None:
    """Wide figures were shrunk to the column, with no way to see them larger."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, small_report)
    browser.set_window_size(800, 900)  # the figure is wider than the page's column
    img = browser.find_element(By.CSS_SELECTOR, "figure img")
    natural = browser.execute_script("return arguments[0].naturalWidth", img)
    assert img.size["width"] < natural
    browser.execute_script("arguments[0].scrollIntoView()", img)
    img.click()
    cover = browser.find_element(By.CSS_SELECTOR, ".zoom")
    big = cover.find_element(By.TAG_NAME, "img")
    assert big.size["width"] == natural
    assert cover.find_element(By.TAG_NAME, "p").text == "hover me"  # the caption goes along
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    assert browser.find_elements(By.CSS_SELECTOR, ".zoom") == []
    img.click()
    browser.find_element(By.CSS_SELECTOR, ".zoom").click()  # a click closes it too
    assert browser.find_elements(By.CSS_SELECTOR, ".zoom") == []
    assert console_errors(browser) == []
    browser.set_window_size(1280, 1000)  # as the other tests expect it


def test_without_javascript_the_static_figures_show_and_the_widgets_stay_hidden(
    browser: Any, small_report: Path
) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, small_report, javascript=False)
    try:
        widgets = browser.find_elements(By.CSS_SELECTOR, "[data-widget]")
        assert len(widgets) == 2
        assert not any(w.is_displayed() for w in widgets)
        image = browser.find_element(By.CSS_SELECTOR, "figure img")
        assert image.is_displayed()
        assert browser.execute_script("return arguments[0].naturalWidth", image) > 100
        toc = browser.find_element(By.CSS_SELECTOR, "nav.toc")
        assert "1. Descent" in toc.text
        assert "Reproduce this chapter" in browser.find_element(By.TAG_NAME, "body").text
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_the_page_makes_no_network_request(browser: Any, small_report: Path) -> None:
    open_page(browser, small_report)
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
    )
    assert [u for u in urls if not u.startswith(("data:", "file:"))] == []


@pytest.mark.slow
def test_the_tour_report_sliders_and_read_outs(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from gradlab.tour import run_tour

    report = run_tour(tmp_path, log=lambda line: None)
    open_page(browser, report)
    widgets = browser.find_elements(By.CSS_SELECTOR, "[data-widget]")
    assert [w.get_attribute("data-widget") for w in widgets] == ["descent-rate", "linreg-rate"]
    descent, linreg = (slide_through(browser, w) for w in widgets)
    assert {s[0] for s in descent} == {"too slow", "converged", "oscillating", "diverged"}
    assert {"too slow", "converged", "diverged"} <= {s[0] for s in linreg}
    for seen in (descent, linreg):
        assert len({s[2] for s in seen}) == len(seen)
    wraps = browser.find_elements(By.CSS_SELECTOR, ".readout-wrap")
    # chapter 4: softmax regression and the MLP; chapter 6: the MLP with sgd, momentum, adam
    assert len(wraps) == 5
    for wrap in wraps:
        browser.execute_script("arguments[0].scrollIntoView()", wrap)
        ActionChains(browser).move_to_element_with_offset(
            wrap, -wrap.size["width"] // 4, 0
        ).perform()
        tip = wrap.find_element(By.CSS_SELECTOR, ".readout-tip")
        assert tip.is_displayed()
        assert "train loss" in tip.text
    assert console_errors(browser) == []
