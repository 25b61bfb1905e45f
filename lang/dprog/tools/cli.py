"""The `dp` command (SPEC §8): run a file, `-c CODE`, `-` (stdin), `-i`, or the REPL."""

from __future__ import annotations

import os
import sys

USAGE = """usage: dp [options] [FILE.dp | -c CODE | -] [ARGS...]

  dp FILE.dp [ARGS...]   run a program (ARGS reach it as the tuple `argv`)
  dp                     start the REPL
  dp -c "CODE" [ARGS]    run CODE
  dp -i FILE.dp          run FILE, then start the REPL with its names
  dp -                   read the program from standard input
  dp --check-nans ...    stop at the first nan a primitive makes from non-nan inputs
  dp --version           print the version
  dp --help              show this help

exit status: 0 success, 1 error in the program, 2 bad usage, 130 interrupted
"""


def _usage_error(msg: str) -> int:
    sys.stderr.write(f"dp: {msg}\n{USAGE}")
    return 2


class Options:
    """What the command line asks for."""

    __slots__ = ("interactive", "check_nans", "code", "path", "program_args")

    def __init__(self) -> None:
        self.interactive = False
        self.check_nans = False
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
        if a in ("--check-nans", "-i"):
            opts.check_nans |= a == "--check-nans"
            opts.interactive |= a == "-i"
            args = args[1:]
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
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(list(sys.argv[1:] if argv is None else argv))
    if isinstance(opts, int):
        return opts
    # the REPL and the interpreter are imported only when used: `dp --help` stays instant
    if opts.code is None and opts.path is None:
        from .repl import run_repl
        return run_repl(check_nans=opts.check_nans)
    path = opts.path
    if path is not None and path != "-" and not os.path.isfile(path):
        why = "is a directory" if os.path.isdir(path) else "no such file"
        return _usage_error(f"cannot open {path}: {why}")

    from ..host.interpreter import Interpreter

    interp = Interpreter(max_depth=1000, max_array_elements=250_000_000, allow_files=True,
                         check_nans=opts.check_nans, max_memory=None, max_output=None)
    status = _run(interp, opts)
    if opts.interactive and status != 130:
        from .repl import run_repl
        return run_repl(interp=interp, check_nans=opts.check_nans) or status
    return status


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
