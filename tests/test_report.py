"""The generic report writer: model formatting, HTML rendering, and the plot helpers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from oversight.report.html import render_html, render_text, write_report
from oversight.report.model import Cell, Figure, Report, Section, Table, format_cell
from oversight.report.plots import Series, bar_plot, histogram, line_plot, roc_plot

PNG = b"\x89PNG"


def _table() -> Table:
    return Table(
        title="Detection rates",
        columns=["judge", "rate", "k", "note"],
        rows=[
            ["critic", 0.123456, 3, Cell("0.271", flag="formula", title="1-(1-p)^k = 0.271")],
            ["<script>alert(1)</script>", math.nan, 10, None],
        ],
        note="Rates over 40 problems.",
    )


def _plots() -> dict[str, bytes]:
    curve = Series(
        xs=[1, 2, 4, 8],
        ys=[0.1, math.nan, 0.5, 0.7],
        lo=[0.05, 0.2, 0.4, 0.6],
        hi=[0.2, 0.4, math.nan, 0.8],
    )
    return {
        "line": line_plot(
            {"measured": curve},
            title="Rate vs k",
            xlabel="k",
            ylabel="rate",
            logx=True,
            ylim=(0, 1),
            bounds={"1-(1-p)^k (formula)": Series(xs=[1, 2, 4, 8], ys=[0.1, 0.19, 0.34, 0.57])},
        ),
        "hist": histogram(
            {"honest": [0.1, 0.2, 0.2, math.nan], "sabotaged": [0.7, 0.9]},
            title="Suspicion",
            xlabel="score",
            bins=10,
        ),
        "roc": roc_plot({"critic": ([0, 0.2, 1], [0, 0.8, 1], 0.8)}, title="ROC"),
        "bar": bar_plot(
            {"a": (0.5, 0.4, 0.6), "b": (math.nan, math.nan, math.nan)},
            title="Accuracy",
            ylabel="acc",
        ),
    }


@pytest.fixture(scope="module")
def plots() -> dict[str, bytes]:
    return _plots()


@pytest.mark.parametrize("kind", ["line", "hist", "roc", "bar"])
def test_plots_return_png(plots: dict[str, bytes], kind: str) -> None:
    png = plots[kind]
    assert png.startswith(PNG)
    assert len(png) > 1000


def test_plots_survive_empty_and_all_nan_input() -> None:
    assert line_plot(
        {"gap": Series([1, 2], [math.nan, math.nan])}, title="t", xlabel="x", ylabel="y"
    ).startswith(PNG)
    assert line_plot({}, title="t", xlabel="x", ylabel="y").startswith(PNG)
    assert histogram({"none": []}, title="t", xlabel="x").startswith(PNG)
    assert roc_plot({"c": ([0, 1], [0, 1], math.nan)}, title="t").startswith(PNG)


def test_series_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        Series(xs=[1, 2], ys=[1])
    with pytest.raises(ValueError):
        Series(xs=[1], ys=[1], lo=[0])


def test_format_cell() -> None:
    assert format_cell(0.123456) == "0.123"
    assert format_cell(1234.5) == "1234"
    assert format_cell(999.7) == "1000"
    assert format_cell(math.nan) == "–"
    assert format_cell(None) == "–"
    assert format_cell(7) == "7"
    assert format_cell(Cell("x", flag="good")) == "x"


def test_model_validation() -> None:
    with pytest.raises(ValueError):
        Cell("x", flag="purple")
    with pytest.raises(ValueError):
        Table("t", ["a", "b"], [[1]])
    with pytest.raises(ValueError):
        Figure("f", b"GIF89a")


def test_table_to_text() -> None:
    text = _table().to_text()
    assert "**Detection rates**" in text
    assert "| judge" in text and "rate" in text
    assert "critic" in text and "0.123" in text and "0.271" in text
    assert "–" in text
    assert "Rates over 40 problems." in text
    lines = text.splitlines()
    # Header, separator and both rows all have the same number of cells.
    assert {line.count(" | ") for line in lines if line.startswith("|")} == {3}
    # The numeric "rate" column is right-aligned in Markdown.
    assert lines[3].split("|")[2].strip().endswith(":")


def test_render_text_escapes_and_marks_code() -> None:
    paras = render_text("First <b>para</b> with `x < 1`.\n\nSecond `para`.\n")
    assert len(paras) == 2
    assert "&lt;b&gt;" in paras[0]
    assert "<code>x &lt; 1</code>" in paras[0]
    assert "<code>para</code>" in paras[1]


def test_write_report(tmp_path: Path, plots: dict[str, bytes]) -> None:
    report = Report(
        title="Critique scaling",
        subtitle="seed 0",
        sections=[
            Section(
                title="Results",
                text="We measure <rates>.\n\nSee `k` below.",
                tables=[_table()],
                figures=[Figure(title=k, png=v, caption=f"{k} plot") for k, v in plots.items()],
            ),
            Section(title="Results"),
        ],
        config_yaml="experiment: critique\nseeds: [0, 1]\n",
        metrics={"rate.critic": 0.271, "n_problems": 40, "auc": None},
    )
    path = write_report(report, tmp_path / "out" / "report.html")
    assert path.exists()
    html = path.read_text(encoding="utf-8")

    assert "Detection rates" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "We measure &lt;rates&gt;." in html
    assert "<code>k</code>" in html
    assert html.count('<img src="data:image/png;base64,') == len(plots)
    assert "experiment: critique" in html
    assert html.index("auc") < html.index("n_problems") < html.index("rate.critic")
    assert 'class="num formula"' in html
    assert 'title="1-(1-p)^k = 0.271"' in html
    # Table of contents links resolve, and repeated titles get distinct anchors.
    assert 'href="#s1-results"' in html and 'id="s1-results"' in html
    assert 'id="s2-results"' in html
    assert "http://" not in html and "https://" not in html


def test_render_html_minimal_report() -> None:
    html = render_html(Report(title="Empty"))
    assert "<h1>Empty</h1>" in html
    assert "<details" not in html
