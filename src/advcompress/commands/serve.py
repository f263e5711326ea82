"""`advcompress serve`: the warm job server (advcompress.job_server; README, "Many small jobs")."""

from __future__ import annotations


def cmd_serve(a) -> None:
    from advcompress.job_server import serve

    serve(a.socket)


def register(add) -> None:
    p = add("serve", cmd_serve)
    p.add_argument("--socket", required=True, metavar="PATH",
                   help="Unix socket to listen on; jobs whose environment has ADVCOMPRESS_SERVER=PATH "
                        "run as forked children of this warm process instead of importing torch themselves")
