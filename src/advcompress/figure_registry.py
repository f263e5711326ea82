"""A study's figures (and tables) by name: the function that draws each, the inputs it reads, the file it writes.

One registry serves the workflow and the command line: planning reads it for the figure files a
config draws and the inputs of each (one rule per study, `{figure}` constrained to them), and the
study's figure command takes `--kind` from it and draws. So a new figure is one registered function.
`Tables` is the same registry for a study's tables: its function writes a CSV and its Markdown.

Every `snakemake` call imports a registry while planning, so a registry imports nothing heavy: its
draw functions import their plotting module (matplotlib, seaborn) when a figure is drawn.
"""

from __future__ import annotations

import argparse
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from advcompress.errors import UserError

# draw(inputs: role -> files, settings, *out): inputs as `reads` names them, settings as `settings`
# does; out is the figure's file (a table's: its CSV and its Markdown).
Draw = Callable[..., None]


@dataclass(frozen=True)
class Figure:
    name: str
    draw: Draw
    file: str  # the file's stem (its name, for a study whose files differ in type); with a field such
    #            as "{attack}" or "{net}" in it, one file per attack or net
    reads: Mapping[str, object]  # input role -> which files, in the terms of the study's planning
    settings: tuple[str, ...]  # keys of the settings slice the draw reads
    group: str  # the report's subcategory
    attacks: tuple[str, ...] | None = None  # per-attack figure: these attacks, not the config's

    @property
    def each(self) -> str | None:
        """The field of `file` (attack, net, ...) of which there is one file per value, or None."""
        fields = {f for _, f, _, _ in string.Formatter().parse(self.file) if f}
        if len(fields) > 1:
            raise ValueError(f"figure {self.name!r}: file {self.file!r} has more than one field")
        return next(iter(fields), None)

    @property
    def per_attack(self) -> bool:
        return self.each is not None


class Figures(dict[str, Figure]):
    """name -> Figure, filled by `register`; `plan` is what the workflow draws, `draw` what a job does."""

    what = "figure"

    def __init__(self, study: str):
        super().__init__()
        self.study = study

    def register(self, name: str, *, file: str, reads: Mapping[str, object], group: str,
                 settings: tuple[str, ...] = (), attacks: tuple[str, ...] | None = None):
        def add(draw: Draw) -> Draw:
            if name in self:
                raise ValueError(f"{self.study} {self.what} {name!r} is registered twice")
            self[name] = Figure(name, draw, file, dict(reads), tuple(settings), group, attacks)
            return draw

        return add

    def plan(self, each, keep: Callable[[Figure], bool] = lambda figure: True) -> dict[str, tuple[Figure, str | None]]:
        """File stem -> (figure, its value of `each` or None) of every figure drawn when the config
        has the values `each` (its attacks), or `each(figure)` when the values differ by entry (the
        classify study: adaptive nets for `{net}`, ablated or sequential codecs for `{codec}`)."""
        out = {}
        for fig in self.values():
            if not keep(fig):
                continue
            values = fig.attacks or (each(fig) if callable(each) else each)
            for value in values if fig.each else [None]:
                stem = fig.file.format(**{fig.each: value}) if fig.each else fig.file
                if stem in out:
                    raise ValueError(f"{self.study} {self.what}s {out[stem][0].name!r} and {fig.name!r} both write {stem}")
                out[stem] = (fig, value)
        return out

    def draw(self, name: str, inputs: list[tuple[str, str]], settings: dict, *out: str) -> None:
        """Draw figure `name` from (role, file) pairs; a role or setting it lacks is a user error."""
        fig = self[name]
        by_role: dict[str, list[str]] = {}
        for role, path in inputs:
            by_role.setdefault(role, []).append(path)
        if set(by_role) != set(fig.reads):
            raise UserError(f"{self.study} {self.what} {name!r} reads the roles {', '.join(fig.reads)}; "
                            f"given {', '.join(by_role)}")
        if missing := [k for k in fig.settings if k not in settings]:
            raise UserError(f"--settings: {self.study} {self.what} {name!r} needs {', '.join(missing)}")
        fig.draw(by_role, settings, *out)

    def draw_files(self, name: str, files: list[str], settings: dict, *out: str) -> None:
        """`draw` for a command that takes its inputs as plain files: all of them are the one role
        the entry reads (the classify and backdoor entries read one role each)."""
        (role,) = self[name].reads
        self.draw(name, [(role, f) for f in files], settings, *out)

    def add_arguments(self, parser) -> None:
        """The figure command's arguments: `--kind` among the registered names, inputs by role."""
        roles = "; ".join(f"{n}: {', '.join(f.reads)}" for n, f in self.items())
        parser.add_argument("--kind", required=True, choices=list(self), help=f"which {self.study} figure")
        parser.add_argument("inputs", nargs="+", type=role_and_file, metavar="ROLE=FILE",
                            help=f"an input file and the role it plays; each kind's roles: {roles}")
        parser.add_argument("--out", required=True, help="output: the figure (.pdf or .png)")


class Tables(Figures):
    """name -> table: the same record as a figure's (`Figure`), whose function writes the table's
    CSV and its Markdown: `write(inputs by role, settings, out_csv, out_md)`."""

    what = "table"


def role_and_file(text: str) -> tuple[str, str]:
    role, sep, path = text.partition("=")
    if not (sep and role and path):
        raise argparse.ArgumentTypeError(f"{text!r} is not ROLE=FILE")
    return role, path


def as_arguments(inputs: Mapping[str, list[str]]) -> list[str]:
    """The ROLE=FILE arguments of a figure command, from role -> files (what planning gives a job)."""
    return [f"{role}={path}" for role, paths in inputs.items() for path in paths]
