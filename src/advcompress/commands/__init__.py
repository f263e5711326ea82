"""Subcommands of `advcompress`, one module per study; each defines `register(add)`."""
