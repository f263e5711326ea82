"""`advcompress serve`: a warm process that runs `advcompress` commands in forked children (opt-in).

Every workflow job is one `advcompress` process, and a small job spends most of its time importing
torch and CompressAI (about 5 CPU seconds). With `advcompress serve --socket S` running and
`ADVCOMPRESS_SERVER=S` in the jobs' environment, a job's process hands its arguments, working
directory, environment and its three standard streams to the server, which forks a child that runs
`cli.run` exactly as the job's own process would, and sends back its exit status. Each child starts
from the pristine warm parent, so jobs share no state; a job whose process is killed takes its child
with it. If the server cannot be reached the job runs in its own process, as without a server.

Snakemake's `benchmark:` files then time the job's thin client, not the child; the server's log
has one line per finished job with its wall and CPU seconds and peak RSS instead.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import resource
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path

from advcompress.errors import UserError

ENV = "ADVCOMPRESS_SERVER"
_HEADER = struct.Struct("!I")  # length of the JSON request that follows the streams
_STATUS = struct.Struct("!i")
# What a job would otherwise import itself; the parent imports, never runs: no thread pool or CUDA
# context exists before a fork.
WARM = ("torch", "torchvision", "compressai", "pandas", "scipy.stats", "matplotlib.pyplot", "seaborn",
        "advcompress.codecs.learned", "advcompress.codecs.classic")


def run_through_server(argv: list[str]) -> int | None:
    """The exit status of `argv` run by the server named in the environment, or None when no server
    is configured or reachable (the caller then runs the command itself)."""
    path = os.environ.get(ENV)
    if not path:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        print(f"advcompress: job server {path} not reachable ({e.strerror}); running in this process",
              file=sys.stderr)
        sock.close()
        return None
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    socket.send_fds(sock, [_HEADER.pack(len(request))], [0, 1, 2])
    sock.sendall(request)
    reply = _recv_exactly(sock, _STATUS.size)  # blocks while the child runs; dies with this process
    sock.close()
    if reply is None:
        print("advcompress: the job server's child ended without an exit status", file=sys.stderr)
        return 1
    return _STATUS.unpack(reply)[0]


def serve(path: str | Path, warm: tuple[str, ...] = WARM, parent: int | None = None) -> None:
    """Accept jobs on the Unix socket `path` until SIGTERM or SIGINT (or, given `parent`, until that
    process is gone: a workflow that dies unannounced leaves no server behind); a child per job."""
    path = Path(path)
    if path.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if probe.connect_ex(str(path)) == 0:
            probe.close()
            raise UserError(f"a job server already listens on {path}")
        probe.close()
        path.unlink()  # the socket of a server that died
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket runs commands as this user: owner only
    try:
        server.bind(str(path))
    except OSError as e:  # e.g. a path over the 107 bytes a Unix socket address holds
        raise UserError(f"cannot listen on {path}: {e.strerror or e}") from None
    finally:
        os.umask(old_umask)
    server.listen(64)  # jobs that connect while the imports below run wait for them
    print(f"advcompress job server: pid {os.getpid()}, listening on {path}", file=sys.stderr, flush=True)

    def stop(signum, frame):
        path.unlink(missing_ok=True)
        raise SystemExit(0)

    def orphaned() -> bool:
        return parent is not None and os.getppid() != parent

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for name in warm:  # seconds each: a workflow that died meanwhile ends its server between them
        if orphaned():
            stop(None, None)
        importlib.import_module(name)
    from advcompress.cli import COMMANDS

    for module in sorted({m for m, _ in COMMANDS.values()}):
        importlib.import_module(f"advcompress.commands.{module}")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # from here on, the kernel reaps the children
    print(f"advcompress job server: warm ({', '.join(warm)} imported)", file=sys.stderr, flush=True)
    jobs = 0
    server.settimeout(2.0 if parent else None)
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            if orphaned():
                stop(None, None)
            continue
        conn.settimeout(None)
        jobs += 1
        pid = os.fork()
        if pid == 0:
            server.close()
            _child(conn, jobs)  # never returns
        conn.close()
        print(f"advcompress job server: job {jobs} in pid {pid}", file=sys.stderr, flush=True)


def _child(conn: socket.socket, number: int) -> None:
    """Become the job: its streams, directory and environment, then `cli.run`, then exit. Its cost
    goes to the server's log, since Snakemake's benchmark sees only the client."""
    code, started, argv = 1, time.monotonic(), []
    server_log = os.dup(2)
    try:
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)  # a job's own subprocesses must be waitable
        data, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
        request = json.loads(_recv_exactly(conn, _HEADER.unpack(data)[0]))
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        threading.Thread(target=_die_with_client, args=(conn,), daemon=True).start()
        argv = request["argv"]
        sys.argv = ["advcompress", *argv]
        from advcompress.cli import run

        try:
            run(request["argv"])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, int | None):
                print(e.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            os.write(server_log, _cost_line(number, code, time.monotonic() - started, argv).encode())
            conn.sendall(_STATUS.pack(code))
        finally:
            os._exit(code)


_COST = re.compile(r"job (\d+) done: exit (-?\d+), ([\d.]+) s wall, ([\d.]+) s CPU, (\d+) MiB peak RSS: (.*)$", re.M)


def job_costs(log_text: str) -> list[dict]:
    """Every finished job of a server log, read back from `_cost_line`: number, exit status, wall
    and CPU seconds, peak RSS (MiB) and argv (without its JSON settings)."""
    return [{"job": int(n), "exit": int(code), "wall_s": float(wall), "cpu_s": float(cpu), "rss_mib": float(rss),
             "argv": argv.split()} for n, code, wall, cpu, rss, argv in _COST.findall(log_text)]


def _cost_line(number: int, code: int, wall: float, argv: list[str]) -> str:
    """One line per finished job: exit status, wall and CPU seconds (with its subprocesses) and
    peak RSS, which counts the warm imports, as a job's own process would."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    rss = max(me.ru_maxrss, kids.ru_maxrss) / 1024
    command = " ".join(argv[:1] + [a for a in argv[1:] if not a.startswith("{")])
    return (f"advcompress job server: job {number} done: exit {code}, {wall:.2f} s wall, {cpu:.2f} s CPU, "
            f"{rss:.0f} MiB peak RSS: {command}\n")


def _die_with_client(conn: socket.socket) -> None:
    """The client sends nothing more; end of stream means it was killed, so the job stops too."""
    try:
        conn.recv(1)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks = b""
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return chunks


def start_background(log: Path, timeout: float = 120.0):
    """A server for this process's jobs: started, listening, and named in this process's
    environment (which its jobs inherit). Returns a `stop()` that ends it; on any failure the jobs
    run in their own processes and the reason is in `log`."""
    import subprocess
    import tempfile

    from advcompress.cli import one_line

    try:
        sock = Path(tempfile.mkdtemp(prefix="advcompress-")) / "jobs.sock"  # a short path in an owner-only folder
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "advcompress", "serve", "--socket", str(sock),
                                     "--exit-with-parent"], stdout=out, stderr=subprocess.STDOUT)
    except OSError as e:
        print(f"advcompress: no job server ({one_line(e)}); every job runs in its own process", file=sys.stderr)
        return lambda: None
    deadline = time.monotonic() + timeout
    while not sock.exists() or "listening" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            with contextlib.suppress(OSError):
                sock.parent.rmdir()
            return lambda: None
        time.sleep(0.2)
    os.environ[ENV] = str(sock)

    def stop() -> None:
        os.environ.pop(ENV, None)
        proc.terminate()
        proc.wait(60)
        with contextlib.suppress(OSError):
            sock.parent.rmdir()

    return stop


def cmd_serve(a) -> None:
    serve(a.socket, parent=os.getppid() if a.exit_with_parent else None)


def register(add) -> None:
    p = add("serve", cmd_serve)
    p.add_argument("--socket", required=True, metavar="PATH",
                   help="Unix socket to listen on; jobs whose environment has ADVCOMPRESS_SERVER=PATH "
                        "run as forked children of this warm process instead of importing torch themselves")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop when the process that started this one ends (the workflow's own server)")
