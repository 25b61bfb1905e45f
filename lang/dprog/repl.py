"""The REPL (SPEC §9). A placeholder line-based loop until the prompt_toolkit session lands."""

from __future__ import annotations

import sys


def run_repl(interp=None, check_nans: bool = False) -> int:
    from .errors import DpError
    from .interpreter import Interpreter
    from .values import show

    if interp is None:
        interp = Interpreter(allow_files=True, check_nans=check_nans, max_array_elements=250_000_000)
    interp.echo_hook = lambda v: sys.stdout.write(show(v, quote=True) + "\n")
    failed = False
    for line in sys.stdin:
        try:
            interp.exec_interactive(line, "<repl>")
        except DpError as err:
            sys.stdout.flush()
            sys.stderr.write(err.report() + "\n")
            failed = True
    return 1 if failed else 0
