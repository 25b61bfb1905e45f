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


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    interactive = False
    check_nans = False
    code = None
    path = None
    while args:
        a = args[0]
        if a in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        if a in ("-V", "--version"):
            from .. import __version__
            sys.stdout.write(f"dprog {__version__}\n")
            return 0
        if a == "--check-nans":
            check_nans = True
            args.pop(0)
            continue
        if a == "-i":
            interactive = True
            args.pop(0)
            continue
        if a == "-c":
            if len(args) < 2:
                return _usage_error("-c needs an argument")
            code = args[1]
            args = args[2:]
            break
        if a == "--":
            args.pop(0)
            if args:
                path = args.pop(0)
            break
        if a.startswith("-") and a != "-":
            return _usage_error(f"unknown option {a}")
        path = args.pop(0)
        break
    program_args = args

    if code is None and path is None:
        from .repl import run_repl
        return run_repl(check_nans=check_nans)

    if path is not None and path != "-" and not os.path.isfile(path):
        why = "is a directory" if os.path.isdir(path) else "no such file"
        return _usage_error(f"cannot open {path}: {why}")

    from ..core.errors import DpError
    from ..host.interpreter import Interpreter
    from ..runtime.state import OutputClosed

    interp = Interpreter(max_depth=1000, max_array_elements=250_000_000, allow_files=True,
                         check_nans=check_nans)
    status = 0
    try:
        try:
            if code is not None:
                interp.set_argv(program_args)
                interp.exec(code, name="<string>")
            elif path == "-":
                interp.set_argv(program_args)
                interp.exec(sys.stdin.read(), name="<stdin>")
            else:
                interp.run_file(path, program_args)
        except DpError as err:
            sys.stdout.flush()
            sys.stderr.write(err.report() + "\n")
            status = 1
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
    if interactive:
        from .repl import run_repl
        return run_repl(interp=interp, check_nans=check_nans) or status
    return status
