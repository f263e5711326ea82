"""The one figure context: every figure of every study is drawn inside `figure(path, ...)`.

It selects matplotlib's Agg backend (jobs have no display), draws under the project's one seaborn
theme, writes the file through `io.save_figure` (atomic: the old file or none, never half a file)
when the block succeeds, and closes the figure however the block ends, so a block that raises
writes nothing. The theme holds inside the block only (`matplotlib.rc_context`), so no figure
depends on what a process drew before it. matplotlib and seaborn are imported on first use: a
module that imports this one for its figures costs a table job nothing.
"""

from __future__ import annotations

import contextlib
import functools

from advcompress.io import save_figure

THEME = {"style": "whitegrid", "context": "paper"}


@functools.cache
def pyplot():
    """matplotlib.pyplot on the Agg backend, selected once."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def figure(path, nrows: int = 1, ncols: int = 1, *, themed: bool = True, **subplots_kwargs):
    """`with figure(path, 1, 2, figsize=(8, 3.3)) as (fig, axes):` draws one figure into `path`,
    in the format its suffix names; `fig, axes` are what `plt.subplots(nrows, ncols, **kwargs)`
    returns. `themed=False` draws in matplotlib's own style (the image grids, which never had the
    theme)."""
    import matplotlib

    plt = pyplot()
    with matplotlib.rc_context():
        if themed:
            import seaborn as sns

            sns.set_theme(**THEME)
        fig, axes = plt.subplots(nrows, ncols, **subplots_kwargs)
        try:
            yield fig, axes
            save_figure(fig, path)
        finally:
            plt.close(fig)
