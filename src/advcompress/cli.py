"""`advcompress <command>`: every workflow job is one call here, runnable without Snakemake.

Rules pass settings as one JSON string (`--settings`), so no config value is ever spliced into a
shell command unquoted, and a job's settings are exactly what Snakemake records as its params.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import logging
import sys
from collections.abc import Callable, Iterable
from functools import partial

from advcompress.errors import UserError

log = logging.getLogger("advcompress")

# The command table: name -> (module of `advcompress.commands` that runs it, one-line help).
# `advcompress --help` reads only this; a command's module is imported when that command is parsed,
# so a table job never imports another study's code (nor torch, unless its own module needs it).
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare-data": ("foundation", "write one dataset folder with its manifest"),
    "train-lic": ("foundation", "train one learned codec on the training images"),
    "fetch-weights": ("foundation", "download an official checkpoint, hash-checked"),
    "compress": ("foundation", "code every evaluation image for real; one row per image"),
    "rd-table": ("foundation", "aggregate clean-compression rows into the RD table"),
    "rd-bd": ("foundation", "BD-PSNR and BD-rate of every codec against an anchor codec, with intervals"),
    "rd-figure": ("foundation", "draw the clean RD figure"),
    "attack-run": ("attack", "attack every eval image x direction for one codec; assess by real coding"),
    "attack-tau": ("attack", "ARDA on one codec at each temperature of the tau ablation, measured by real coding"),
    "attack-image": ("attack", "attack one image file and print clean vs adversarial RD"),
    "attack-table": ("attack", "Table II (mu/sigma of dR, dD, 95% bootstrap intervals over images) "
                               "from per-image attack rows"),
    "attack-figure": ("attack", "one figure of the RD-attack study"),
    "defense-train": ("defense", "adversarially fine-tune one learned submodel (clean + SRDA crops)"),
    "defense-table": ("defense", "Table III and the robustness summary (95% bootstrap intervals over images) "
                                 "from attack rows"),
    "defense-figure": ("defense", "one figure of the defense study"),
    "classify-train": ("classify", "train the digits CNN and log its clean accuracy"),
    "classify-fetch-classifier": ("classify", "download torchvision ImageNet weights"),
    "classify-adv": ("classify", "adversarial images against the classifier alone"),
    "classify-attack": ("classify", "one attack against one defense, measured by real coding"),
    "classify-bpp": ("classify", "rate and clean accuracy of every defense on the evaluation images"),
    "classify-overhead": ("classify", "measured defense + classification time per image"),
    "classify-adaptive": ("classify", "JPEG vs saliency vs augmented-saliency JPEG at matched size"),
    "classify-adaptive-quality": ("classify", "plain JPEG accuracy at each quality on clean and adversarial images"),
    "classify-cycles": ("classify", "the same images after N real compression cycles of each defense"),
    "classify-table": ("classify", "aggregate classifier-study rows into one table"),
    "classify-figure": ("classify", "draw one figure of the classifier study"),
    "backdoor-photos": ("backdoor", "cut the photo-patch classification task from the bundled photographs"),
    "backdoor-clean-classifier": ("backdoor", "train the clean classifier (digits, photo patches or CIFAR-10)"),
    "backdoor-trigger": ("backdoor", "build a trigger and its compressed test sets"),
    "backdoor-train": ("backdoor", "train and evaluate one classifier backdoor run"),
    "backdoor-table": ("backdoor", "aggregate classifier- or LIC-backdoor rows into a paper table"),
    "backdoor-figure": ("backdoor", "draw a paper figure of the classifier or LIC backdoor"),
    "backdoor-lic-train": ("backdoor", "fine-tune g_a of a learned codec with frequency triggers"),
    "backdoor-lic-eval": ("backdoor", "real coding of clean and triggered images, both encoders"),
    "backdoor-lic-seg-eval": ("backdoor", "the segmentation stand-in's test mosaics, both encoders (Table 1)"),
    "claims": ("claims", "check each paper's headline claims on the long tables: holds, fails, inconclusive"),
    "selfcheck": ("selfcheck", "compare each GPU job's core (training, SRDA/ARDA, AT, online updating, classifier "
                               "attack through a defense, both backdoor trainings) on the device against the CPU; "
                               "one line per check"),
    "serve": ("serve", "run jobs as forked children of one warm process (opt-in: ADVCOMPRESS_SERVER)"),
}

EPILOG = ("A user error (bad --settings JSON, an unknown name, a missing or unreadable file, checkpoint or "
          "image) prints one line to stderr and exits with status 2; a traceback means a bug. "
          "'advcompress <command> --help' lists a command's arguments.")


# -- what jobs share ------------------------------------------------------------------------------


def settings_json(text: str) -> dict:
    """`--settings`: a JSON object; an error names the position, argparse adds the argument."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(
            f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno} (char {e.pos})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, not a JSON {type(value).__name__}")
    return value


def settings_of(args) -> dict:
    s = args.settings
    if isinstance(s, dict):
        return s
    try:  # a namespace built by hand, not by the parser
        return settings_json(s)
    except argparse.ArgumentTypeError as e:
        raise UserError(f"--settings: {e}") from None


# -- checkpoints: one convention on every command ---------------------------------------------------


def codec_checkpoint(text: str) -> str:
    """`--codec-ckpt NAME@QUALITY=PATH`, checked when parsed. The quality follows the last `@`, so
    derived names (`mbt2018@at-srda@4=...`) parse."""
    key, eq, path = text.partition("=")
    name, at, quality = key.rpartition("@")
    if not (eq and path and at and name and quality):
        raise argparse.ArgumentTypeError(f"expects NAME@QUALITY=PATH, got {text!r}")
    return text


def add_codec_ckpt(sp, what: str = "checkpoint of a learned codec the command uses (repeatable)") -> None:
    sp.add_argument("--codec-ckpt", action="append", default=[], type=codec_checkpoint,
                    metavar="NAME@QUALITY=PATH", help=what)


def codec_ckpt(args, name: str, quality, required: bool = False) -> str | None:
    """The path `--codec-ckpt` gives codec `name` at `quality`; None (the settings' weights) when
    none is given, unless `required`."""
    given = dict(item.split("=", 1) for item in args.codec_ckpt or [])
    path = given.get(f"{name}@{quality}")
    if path is None and required:
        raise UserError(f"--codec-ckpt: no checkpoint for {name}@{quality}; give --codec-ckpt {name}@{quality}=PATH")
    return path


# -- names an argument accepts --------------------------------------------------------------------


class Names:
    """The values an argument accepts (its `choices`), read from a registry only when needed.

    Building the parser and rendering `--help` never read it, because many registries import
    torch; checking a given value does, which the command would do anyway. `accepts` admits names
    the listing does not spell out (derived codecs such as `mbt2018@at-srda` or `jpeg+online`),
    `more()` says how those are spelled.
    """

    def __init__(self, what: str, names: Callable[[], Iterable[str]], metavar: str,
                 accepts: Callable[[str], bool] | None = None, more: Callable[[], str] | None = None):
        self.what, self.metavar = what, metavar
        self._names, self._accepts, self._more = names, accepts, more

    def __iter__(self):
        return iter(self._names())

    def __contains__(self, value) -> bool:
        return self._accepts(value) if self._accepts else value in set(self._names())

    def unknown(self, value) -> str:
        listed = ", ".join(self)
        more = f"; {self._more()}" if self._more else ""
        return f"unknown {self.what} {value!r}; choose from {listed}{more}"


def _is_codec(name: str, family: str | None = None) -> bool:
    from advcompress.codecs.registry import codec_entry

    try:
        entry = codec_entry(name)  # imports only the module registering `name`: a JPEG job skips CompressAI
    except KeyError:
        return False
    return family in (None, entry.family)


def _codecs(family: str | None = None) -> list[str]:
    # The torch-free catalog names exactly what the registry builds (tests/test_codecs.py), so a
    # job checking its --model imports only its own codec's module, not every architecture.
    from advcompress.codecs.catalog import codec_names

    return codec_names(family)


def _derived_forms() -> str:
    from advcompress.codecs.registry import derived_forms

    return derived_forms()


# Every codec name the registry builds, derived ones included; learned ones only; and the
# registered learned architectures themselves (what can be trained, fetched or fine-tuned).
CODECS = Names("codec", _codecs, "CODEC", accepts=_is_codec, more=_derived_forms)
LEARNED_CODECS = Names("learned codec", partial(_codecs, "learned"), "MODEL",
                       accepts=partial(_is_codec, family="learned"), more=_derived_forms)
ARCHITECTURES = Names("learned architecture", partial(_codecs, "learned"), "MODEL")


def registry_names(what: str, module: str, attr: str, metavar: str) -> Names:
    """Names: the keys of `module.attr` (a dict registry), or the `.name`s of its items (a list)."""

    def names():
        reg = getattr(importlib.import_module(module), attr)
        return sorted(reg) if isinstance(reg, dict) else [item.name for item in reg]

    return Names(what, names, metavar)


# -- the parser -----------------------------------------------------------------------------------


class HelpFormatter(argparse.HelpFormatter):
    def _expand_help(self, action):
        # argparse lists the choices for a possible `%(choices)s` in every help string; a registry
        # is listed only in an unknown name's error, so `--help` loads none (and no torch).
        if isinstance(action.choices, Names):
            action = copy.copy(action)
            action.choices = None
        return super()._expand_help(action)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and, for a subcommand, its arguments added on first use."""

    def __init__(self, *args, load: Callable[[], None] | None = None, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self._load = load

    def ensure_loaded(self) -> Parser:
        load, self._load = self._load, None
        if load is not None:
            load()
        return self

    def parse_known_args(self, args=None, namespace=None):
        self.ensure_loaded()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self.ensure_loaded()
        return super().format_help()

    def format_usage(self) -> str:
        self.ensure_loaded()
        return super().format_usage()

    def add_argument(self, *args, **kwargs):
        if isinstance(kwargs.get("choices"), Names):
            # argparse spells out choices in the usage line unless a metavar stands in for them
            kwargs.setdefault("metavar", kwargs["choices"].metavar)
        return super().add_argument(*args, **kwargs)

    def _check_value(self, action, value):
        if isinstance(action.choices, Names) and value not in action.choices:
            raise argparse.ArgumentError(action, action.choices.unknown(value))
        super()._check_value(action, value)

    def error(self, message: str):
        # One line, like every other user error (the usage is one `--help` away).
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _load_commands(sub, module: str) -> None:
    """Import one study's command module; its `register(add)` gives each of its commands a function
    and arguments, on the parsers `build_parser` made from the command table."""
    mine = [name for name, (m, _) in COMMANDS.items() if m == module]
    registered = []

    def add(name: str, fn) -> Parser:
        if name not in mine:
            raise RuntimeError(f"advcompress.commands.{module} registers {name!r}; "
                               f"add it to advcompress.cli.COMMANDS under {module!r}")
        sp = sub.choices[name]
        sp._load = None  # loaded now, with its siblings
        sp.set_defaults(fn=fn)
        registered.append(name)
        return sp

    importlib.import_module(f"advcompress.commands.{module}").register(add)
    if missing := sorted(set(mine) - set(registered)):
        raise RuntimeError(f"advcompress.commands.{module} registers no {', '.join(missing)}")


def build_parser() -> Parser:
    p = Parser(prog="advcompress", description=__doc__, epilog=EPILOG)
    p.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level instead of INFO (to stderr)")
    sub = p.add_subparsers(dest="command", required=True, metavar="<command>", parser_class=Parser)
    for name, (module, text) in COMMANDS.items():
        # argparse %-formats help strings; a command's help is prose ("95% intervals"), not a template
        sp = sub.add_parser(name, help=text.replace("%", "%%"), description=text,
                            load=partial(_load_commands, sub, module))
        sp.add_argument("--settings", type=settings_json, metavar="JSON",
                        help="JSON object of settings (the job's slice of the workflow config)")
        sp.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch intra-op threads, the rule's threads (default: $OMP_NUM_THREADS when set)")
    return p


def one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror}"
    return " ".join(line.strip() for line in str(e).splitlines() if line.strip())


def main(argv=None) -> None:
    """The `advcompress` entry point: the job server runs the command when one is configured."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] != ["serve"] and (status := _served(argv)) is not None:
        sys.exit(status)
    run(argv)


def run(argv: list[str]) -> None:
    """Run one command in this process."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.fn(args)
    except (UserError, FileNotFoundError) as e:
        # One clear line for problems a user fixes by hand; tracebacks are for bugs.
        print(f"{parser.prog} {args.command}: error: {one_line(e)}", file=sys.stderr)
        sys.exit(2)


def _served(argv: list[str]) -> int | None:
    """A job's exit status when a warm job server ran it (ADVCOMPRESS_SERVER), else None."""
    import os

    if not os.environ.get("ADVCOMPRESS_SERVER"):
        return None
    from advcompress.commands.serve import run_through_server

    return run_through_server(argv)


if __name__ == "__main__":
    main()
