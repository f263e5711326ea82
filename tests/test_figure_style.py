"""advcompress.figure_style.figure, the one context every figure is drawn in: it writes the file only
when its block succeeds, never leaves a figure open, and keeps the theme inside the block."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pytest

from advcompress.figure_style import figure


def test_a_block_that_succeeds_writes_its_file_and_closes_the_figure(tmp_path):
    out = tmp_path / "f.pdf"
    with figure(out, 1, 2, figsize=(4, 2)) as (fig, axes):
        assert matplotlib.get_backend().lower() == "agg"
        assert len(axes) == 2 and list(fig.get_size_inches()) == [4, 2]
        axes[0].plot([0, 1], [1, 0])
        assert not out.exists()  # written when the block ends, not before
    assert out.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf"]  # no temporary file left
    assert plt.get_fignums() == []


def test_a_block_that_raises_writes_nothing_and_closes_the_figure(tmp_path):
    out = tmp_path / "sub" / "f.png"
    with pytest.raises(RuntimeError, match="drawing failed"), figure(out) as (_, ax):
        ax.plot([0, 1], [1, 0])
        raise RuntimeError("drawing failed")
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # neither the file nor a temporary one
    assert plt.get_fignums() == []
    # an earlier file stays as it was
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"old")
    with pytest.raises(ValueError), figure(out):
        raise ValueError
    assert out.read_bytes() == b"old" and [p.name for p in out.parent.iterdir()] == ["f.png"]
    assert plt.get_fignums() == []


def test_the_theme_holds_inside_the_block_only(tmp_path):
    """Whitegrid, paper context inside; outside, rcParams as they were, so no figure depends on
    what a process drew before it (the image grids, `themed=False`, keep matplotlib's style)."""
    with matplotlib.style.context("default"):  # from matplotlib's own style, whatever ran before
        before = dict(matplotlib.rcParams)
        with figure(tmp_path / "themed.png"):
            assert matplotlib.rcParams["axes.grid"] and matplotlib.rcParams["axes.edgecolor"] == ".8"
            assert matplotlib.rcParams["font.size"] == pytest.approx(0.8 * 12)  # seaborn's paper context
        assert dict(matplotlib.rcParams) == before
        with figure(tmp_path / "plain.png", themed=False):
            assert dict(matplotlib.rcParams) == before
