"""`advcompress <command>`: every workflow job is one call here, runnable without Snakemake.

Rules pass settings as one JSON string (`--settings`), so no config value is ever spliced into a
shell command unquoted, and a job's settings are exactly what Snakemake records as its params.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sys

log = logging.getLogger("advcompress")


def settings_of(args) -> dict:
    return json.loads(args.settings) if args.settings else {}


def make_codec_from_settings(name: str, quality, settings: dict, checkpoint: str | None = None):
    """The one place a job turns (codec, quality, settings) into a codec object."""
    from advcompress.codecs import codec_entry, make_codec
    from advcompress.device import pick_device

    if codec_entry(name).family == "classic":
        return make_codec(name, quality)
    return make_codec(
        name,
        int(quality),
        weights=settings.get("weights", "trained"),
        checkpoint=checkpoint,
        widths=settings.get("widths"),
        device=pick_device(settings.get("device", "auto")),
        # settings of a codec wrapper (`<model>+online`); learned codecs ignore it
        **({"online": settings["online"]} if "online" in settings else {}),
    )


# -- wiring ---------------------------------------------------------------------------------------


def command_modules():
    """Every module in `advcompress.commands` registers its own subcommands (one per study)."""
    import advcompress.commands as pkg

    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{pkg.__name__}.{n}") for n in names]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="advcompress", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, fn, help):
        # argparse %-formats help strings; a command's help is prose ("95% intervals"), not a template
        sp = sub.add_parser(name, help=help.replace("%", "%%"))
        sp.set_defaults(fn=fn)
        sp.add_argument("--settings", help="JSON object of settings (from the workflow config)")
        sp.add_argument("--threads", type=int, default=None)
        return sp

    for module in command_modules():
        module.register(add)
    return p


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from advcompress.errors import CheckpointError, DataError

    try:
        args.fn(args)
    except (DataError, CheckpointError, FileNotFoundError) as e:
        # One clear line for problems a user fixes by hand; tracebacks are for bugs.
        print(f"advcompress {args.command}: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
