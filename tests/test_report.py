"""The HTML report's structure, checked without a browser: contents, "what you will see",
side-by-side figures, reproduce commands, embedded widget data, no network, and the
tour's slider data (tests/test_browser.py drives the page itself)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from gradlab.viz.report import Section, render, slug, write_report


def png(tmp_path: Path, name: str) -> Path:
    from gradlab.viz.save import new_figure, save_figure

    fig = new_figure(2, 1.5)
    fig.add_subplot().plot([0, 1], [1, 0])
    return save_figure(fig, tmp_path / f"{name}.png")


class Collect(HTMLParser):
    """Tags with their attributes, and every URL the page would load."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(text: str) -> Collect:
    c = Collect()
    c.feed(text)
    return c


def test_contents_link_every_chapter_with_its_gist(tmp_path: Path) -> None:
    a = Section("1. Gradient descent").see("x crawls or flies").text("body")
    b = Section("2. Linear regression").see("a line").reproduce("gradlab linreg --lr 0.01")
    html = render("r", [a, b])
    ids = [attrs["id"] for tag, attrs in parse(html).tags if tag == "section"]
    assert ids == ["gradient-descent", "linear-regression"]
    links = [attrs["href"] for tag, attrs in parse(html).tags if tag == "a"]
    assert links[:2] == ["#gradient-descent", "#linear-regression"]
    assert html.count("x crawls or flies") == 2  # in the contents and under the heading
    assert "<b>What you will see.</b> a line" in html
    assert "<b>Reproduce this chapter</b>" in html
    assert "gradlab linreg --lr 0.01" in html


def test_blocks_keep_their_order_and_compared_figures_share_a_row(tmp_path: Path) -> None:
    one, two, three = (png(tmp_path, n) for n in ("one", "two", "three"))
    s = Section("Figures").text("FIRST").figures([(one, "LEFT"), (two, "RIGHT")])
    s.text("BETWEEN").image(three, "ALONE")
    html = render("r", [s])
    assert html.index("FIRST") < html.index("LEFT") < html.index("BETWEEN") < html.index("ALONE")
    row = re.search(r"<div class='row'>(.*?)</div>", html, re.S)
    assert row is not None
    assert row.group(1).count("<figure>") == 2
    assert "ALONE" not in row.group(1)


def test_widget_data_cannot_close_its_script_and_widgets_start_hidden() -> None:
    data = {"text": "</script><script>alert(1)</script>", "n": [1.5, 2]}
    html = render("r", [Section("W").widget("descent-rate", data, title="Try")])
    block = re.search(
        r"<div class='widget' data-widget='descent-rate' hidden><h3>Try</h3>"
        r"<script type='application/json' class='widget-data'>(.*?)</script></div>",
        html,
        re.S,
    )
    assert block is not None
    assert json.loads(block.group(1)) == data
    assert "</script><script>alert" not in html  # "</" is escaped inside the JSON


def test_the_page_loads_nothing_from_the_network(tmp_path: Path) -> None:
    s = Section("All").image(png(tmp_path, "a"), "a", readout={"axes": [], "x": [], "series": []})
    html = render("r", [s])
    for tag, attrs in parse(html).tags:
        for key in ("src", "href"):
            url = attrs.get(key) or ""
            assert url.startswith(("data:", "#")) or url == "", (tag, url)
    assert "cdn" not in html.lower()
    assert "<script>" in html  # the script is inlined


def test_readout_data_rides_on_the_figure(tmp_path: Path) -> None:
    readout = {"axes": [{"box": [0.1, 0.1, 0.5, 0.9], "xlim": [0, 5]}], "x": [1, 2],
               "xlabel": "epoch", "series": [{"label": "loss", "values": [1.0, None]}]}  # fmt: skip
    html = render("r", [Section("R").image(png(tmp_path, "c"), "curves", readout=readout)])
    (wrap,) = [a for t, a in parse(html).tags if a.get("class") == "readout-wrap"]
    assert json.loads(wrap["data-readout"] or "") == readout


def test_write_report_writes_the_file(tmp_path: Path) -> None:
    path = write_report(tmp_path / "r.html", "title", [Section("S").text("x")], intro="hello")
    text = path.read_text()
    assert text.startswith("<!doctype html>")
    assert "<p>hello</p>" in text


@pytest.mark.parametrize(
    ("title", "expected"),
    [("1. Gradient descent on a function", "gradient-descent-on-a-function"),
     ("4. Image classification: softmax regression and an MLP",
      "image-classification-softmax-regression-and-an-mlp"), ("!!!", "section")],
)  # fmt: skip
def test_slug(title: str, expected: str) -> None:
    assert slug(title) == expected


def test_unknown_block_is_refused() -> None:
    s = Section("S")
    s.blocks.append(("sound", None))
    with pytest.raises(ValueError, match="unknown report block 'sound'"):
        render("r", [s])


def test_curves_readout_places_both_axes_inside_the_image() -> None:
    from gradlab.history import History
    from gradlab.viz.curves import readout

    h = History()
    for e in range(1, 4):
        h.append(epoch=e, train_loss=1 / e, train_accuracy=0.5, test_loss=float("nan"),
                 test_accuracy=0.4, seconds=0.1)  # fmt: skip
    fig = h.plot()
    data = readout(fig, h.columns)
    assert len(data["axes"]) == 2
    left, right = (a["box"] for a in data["axes"])
    for box in (left, right):
        assert 0 < box[0] < box[2] < 1
        assert 0 < box[1] < box[3] < 1
    assert left[2] < right[0]  # side by side
    assert data["x"] == [1.0, 2.0, 3.0]
    assert [s["label"] for s in data["series"]] == [
        "train loss (epoch mean)",
        "train accuracy (epoch mean)",
        "test accuracy",
    ]


def test_descent_slider_data_has_a_verdict_and_a_path_per_rate() -> None:
    from gradlab.functions import parse_function
    from gradlab.tour import descent_rate_data

    d = descent_rate_data(parse_function("x**2*sin(x)"), 4.0, [0.001, 0.01, 0.1, 1.0], steps=80,
                          initial=0.01)  # fmt: skip
    assert [r["verdict"] for r in d["rates"]] == ["too slow", "converged", "oscillating",
                                                   "diverged"]  # fmt: skip
    assert d["initial"] == 1
    for r in d["rates"]:
        assert r["text"].startswith(r["verdict"])
        assert len(r["x"]) == len(r["f"]) >= 2
        assert r["x"][0] == 4.0
    assert d["view"]["x"][0] < 4.0 < d["view"]["x"][1]
    json.dumps(d, allow_nan=False)  # embeddable as JSON


def test_linreg_slider_data_reaches_the_divergence_and_stops_before_it() -> None:
    from gradlab.data.points import make_line
    from gradlab.tour import linreg_rate_data, stable_rate

    points = make_line(40, w=1.5, b=4.0, noise=1.0, seed=0)
    limit = stable_rate(points.X[:, 0])
    d = linreg_rate_data(points, [1e-4, 0.01, 2 * limit], epochs=1000)
    verdicts = [r["verdict"] for r in d["rates"]]
    assert verdicts == ["too slow", "converged", "diverged"]
    diverged = d["rates"][2]
    assert all(v is not None for v in diverged["loss"])  # only the finite part is kept
    assert len(diverged["w"]) < len(d["rates"][0]["w"])
    assert d["background"].startswith("data:image/png;base64,")
    assert d["epochs"][:3] == [0, 1, 2]
    assert d["epochs"][-1] == 1000
    json.dumps(d, allow_nan=False)


def test_stable_rate_is_where_full_batch_descent_stops_converging() -> None:
    from gradlab.data.points import make_line
    from gradlab.errors import DivergenceError
    from gradlab.jobs.linreg import fit
    from gradlab.tour import stable_rate

    points = make_line(50, w=2.0, b=-1.0, noise=0.5, seed=3)
    limit = stable_rate(points.X[:, 0])
    fit(points, lr=0.98 * limit, epochs=2000)  # converges, slowly zigzagging
    with pytest.raises(DivergenceError):
        fit(points, lr=1.05 * limit, epochs=2000)
    assert np.isfinite(limit)


@pytest.mark.parametrize(
    ("accuracy", "expected"),
    [
        ([0.90, 0.953, 0.944, 0.94, 0.96, 0.97], (2, 5)),  # touched at 2, kept from 5
        ([0.90, 0.953, 0.944], (2, None)),  # touched, lost by the end
        ([0.96, 0.97, 0.98], (1, 1)),
        ([0.90, 0.91, 0.92], (None, None)),
    ],
)
def test_the_network_chapter_tells_reaching_a_level_from_keeping_it(
    accuracy: list[float], expected: tuple[int | None, int | None]
) -> None:
    """'Past 0.95 from epoch 2' was said of a curve that fell back below it at epoch 3."""
    from gradlab.tour import _epochs_at

    assert _epochs_at([float(e) for e in range(1, len(accuracy) + 1)], accuracy, 0.95) == expected


def test_the_network_chapter_ranks_by_the_epoch_a_level_is_kept_from() -> None:
    from gradlab.tour import _network_reading

    rows = [["sgd", "0.05", "0.1", "0.96", 9, 18], ["momentum", "0.05", "0.1", "0.97", 2, 5],
            ["adam", "0.001", "0.1", "0.97", 3, 3]]  # fmt: skip
    text = _network_reading(rows)
    assert text.startswith(
        "Test accuracy stayed at 95% or more from epoch 3 for adam, 5 for momentum, 18 for sgd "
        "(reached earlier, then lost again: sgd at epoch 9, momentum at epoch 2). "
    )


def test_on_a_core_install_the_engines_chapter_says_which_engines_are_missing(
    tmp_path: Path, hide_packages: Callable[..., None]
) -> None:
    """It described PyTorch's and TensorFlow's rows above a table that had only NumPy's."""
    from gradlab.errors import install_command
    from gradlab.tour import engines_chapter

    hide_packages("torch", "tensorflow")
    section = engines_chapter(tmp_path, 0).section
    texts = [payload for kind, payload in section.blocks if kind == "text"]
    assert not any("reach the same parameters" in t for t in texts)
    assert any(
        t.startswith("Only NumPy ran here: PyTorch and TensorFlow are not installed")
        and install_command("torch") in t
        for t in texts
    )
    table = next(payload for kind, payload in section.blocks if kind == "table")
    assert [row[0] for row in table[1]] == ["numpy"]


def test_without_torch_the_data_parallel_chapter_says_it_was_skipped_and_why(
    tmp_path: Path, hide_packages: Callable[..., None]
) -> None:
    """The chapter was dropped without a word."""
    from gradlab.errors import install_command
    from gradlab.tour import data_parallel_chapter

    hide_packages("torch")
    chapter = data_parallel_chapter(tmp_path, 0)
    assert chapter.summary == "data parallelism: skipped, PyTorch is not installed"
    ((kind, text),) = chapter.section.blocks
    assert kind == "text"
    assert f"add it with {install_command('torch')}, then run the tour again" in text
