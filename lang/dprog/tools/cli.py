"""The `dp` command (SPEC §8): run a file, `-c CODE`, `-` (stdin), `-i`, or the REPL."""

from __future__ import annotations

import gc
import os
import sys

USAGE = """usage: dp [options] [FILE.dp | -c CODE | -] [ARGS...]

  dp FILE.dp [ARGS...]   run a program (ARGS reach it as the tuple `argv`)
  dp                     start the REPL
  dp -c "CODE" [ARGS]    run CODE
  dp -i FILE.dp          run FILE, then start the REPL with its names
  dp kernel install      register the Jupyter kernel (--user, --sys-prefix, --prefix DIR)
  dp -                   read the program from standard input
  dp --check-nans ...    stop at the first nan a primitive makes from non-nan inputs
  dp --explain-vmap ...  report where vmap ran a function once per example
  dp --workers N ...     run parallel_map on a local Dask cluster of N processes
  dp --scheduler ADDR .. run parallel_map on the Dask cluster at ADDR (tcp://host:8786)
  dp --threads N ...     let BLAS (matrix products, solves) use N threads (default 1)
  dp --version           print the version
  dp --help              show this help

exit status: 0 success, 1 error in the program, 2 bad usage, 130 interrupted
"""


def _usage_error(msg: str) -> int:
    sys.stderr.write(f"dp: {msg}\n{USAGE}")
    return 2


class Options:
    """What the command line asks for."""

    __slots__ = ("interactive", "check_nans", "explain_vmap", "code", "path", "program_args",
                 "workers", "scheduler", "threads")

    def __init__(self) -> None:
        self.interactive = False
        self.check_nans = False
        self.explain_vmap = False
        self.workers: int | None = None
        self.scheduler: str | None = None
        self.threads: int | None = None
        self.code: str | None = None
        self.path: str | None = None
        self.program_args: list[str] = []


def parse_args(args: list[str]) -> Options | int:
    """The options, or the exit status when there is nothing to run (help, version, a
    usage error)."""
    opts = Options()
    while args:
        a = args[0]
        if a in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        if a in ("-V", "--version"):
            from .. import __version__  # (dprog's package face: cheap)
            sys.stdout.write(f"dprog {__version__}\n")
            return 0
        if a in ("--check-nans", "-i", "--explain-vmap"):
            opts.check_nans |= a == "--check-nans"
            opts.explain_vmap |= a == "--explain-vmap"
            opts.interactive |= a == "-i"
            args = args[1:]
            continue
        if a in _VALUED:
            if len(args) < 2:
                return _usage_error(f"{a} needs a value")
            err = _set_valued(opts, a, args[1])
            if err is not None:
                return _usage_error(err)
            args = args[2:]
            continue
        if a == "-c":
            if len(args) < 2:
                return _usage_error("-c needs an argument")
            opts.code, args = args[1], args[2:]
            break
        if a == "--":
            args = args[1:]
            if args:
                opts.path, args = args[0], args[1:]
            break
        if a.startswith("-") and a != "-":
            return _usage_error(f"unknown option {a}")
        opts.path, args = a, args[1:]
        break
    opts.program_args = args
    if opts.workers is not None and opts.scheduler is not None:
        return _usage_error("give --workers or --scheduler, not both")
    return opts


_VALUED = ("--workers", "--scheduler", "--threads")


def _set_valued(opts: Options, flag: str, value: str) -> str | None:
    """Store an option's value; a usage error message if it is bad."""
    if flag == "--scheduler":
        opts.scheduler = value
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        return f"{flag} needs a positive integer, got {value!r}"
    if flag == "--workers":
        opts.workers = n
    else:
        opts.threads = n
    return None


def _limit_blas(opts: Options) -> None:
    """BLAS threads: --threads, else the user's environment, else dprog's default;
    set through the environment before NumPy loads, so it costs nothing."""
    from ..host.threads import DEFAULT_THREADS, env_limit_set, set_before_numpy

    if opts.threads is not None:
        set_before_numpy(opts.threads)
    elif not env_limit_set():
        set_before_numpy(DEFAULT_THREADS)


def _import_interpreter() -> type:
    """The interpreter class, imported with the cyclic collector paused, then everything
    loaded so far (NumPy's and dprog's modules, classes, tables) frozen out of later
    collections: it lives until exit, and traversing it again and again (during the
    import, at every full collection and at exit) cost ~7 % of `dp -c "print(1)"` (W5).
    The program's own garbage is collected as before; the host's gc setting is kept."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        from ..host.interpreter import Interpreter
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    return Interpreter


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["kernel"]:  # `dp kernel install`: the Jupyter kernel (a program file
        from .kernelspec import kernel_command  # named `kernel` runs as `dp ./kernel`)
        return kernel_command(args[1:])
    opts = parse_args(args)
    if isinstance(opts, int):
        return opts
    _limit_blas(opts)
    # the REPL and the interpreter are imported only when used: `dp --help` stays instant
    spread = opts.workers is not None or opts.scheduler is not None
    if opts.code is None and opts.path is None and not spread:
        from .repl import run_repl
        return run_repl(check_nans=opts.check_nans)
    path = opts.path
    if path is not None and path != "-" and not os.path.isfile(path):
        why = "is a directory" if os.path.isdir(path) else "no such file"
        return _usage_error(f"cannot open {path}: {why}")

    Interpreter = _import_interpreter()
    interp = Interpreter(max_depth=1000, max_array_elements=250_000_000, allow_files=True,
                         check_nans=opts.check_nans, max_memory=None, max_output=None)
    try:
        status = _start_workers(interp, opts)
        if opts.explain_vmap:
            interp.rt.vmap_fallbacks = []
        if status is None and (opts.code is not None or opts.path is not None):
            status = _run(interp, opts)
        elif status is None:  # the REPL, with workers
            opts.interactive, status = True, 0
        if opts.interactive and status != 130:
            from .repl import run_repl
            return run_repl(interp=interp, check_nans=opts.check_nans) or status
        if status == 0:
            _note_unsaved_figures(interp)
        return status
    finally:
        _stop_workers(interp)


def _start_workers(interp, opts: Options) -> int | None:
    """Give the interpreter a Dask client for --workers / --scheduler; an exit status
    if that fails (Dask is imported only here)."""
    if opts.workers is None and opts.scheduler is None:
        return None
    from ..core.errors import DpError
    from ..host.parallel import connect_client, local_client

    try:
        if opts.workers is not None:
            interp.executor = local_client(opts.workers)
        else:
            interp.executor = connect_client(opts.scheduler)
    except DpError as err:
        sys.stderr.write(err.report() + "\n")
        return 1
    except (OSError, TimeoutError) as exc:
        sys.stderr.write(f"dp: cannot reach the Dask scheduler {opts.scheduler}: {exc}\n")
        return 1
    return None


def _stop_workers(interp) -> None:
    client = interp.executor
    if client is None:
        return
    interp.executor = None
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _note_unsaved_figures(interp) -> None:
    """A program that drew figures and neither saved nor showed them hears where they
    went (nowhere), rather than finding no file: dprog writes no file it was not asked to."""
    if getattr(interp.rt, "plots", None) is None:  # never plotted: plots.py need not load
        return
    from ..lib.plots import unfinished_figures

    n = unfinished_figures(interp.rt)
    if n:
        what = "a figure" if n == 1 else f"{n} figures"
        sys.stderr.write(f"note: the program drew {what} but never saved or showed "
                         f"{'it' if n == 1 else 'them'}, so nothing was written; end it with "
                         'savefig("figure.png") to write a file, or show()\n')


def _run(interp, opts: Options) -> int:
    """Run the program; its exit status (errors are reports on stderr)."""
    from ..core.errors import DpError
    from ..runtime.state import OutputClosed

    try:
        try:
            interp.set_argv(opts.program_args)
            if opts.code is not None:
                interp.exec(opts.code, name="<string>")
            elif opts.path == "-":
                interp.exec(sys.stdin.read(), name="<stdin>")
            else:
                interp.run_file(opts.path, opts.program_args)
        except DpError as err:
            sys.stdout.flush()
            sys.stderr.write(err.report() + "\n")
            return 1
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.write("interrupted\n")
        return 130
    except OutputClosed:
        # the reader of our output went away: silence the final flush, exit quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    finally:
        try:
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            pass
    return 0
