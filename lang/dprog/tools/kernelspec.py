"""`dp kernel install`: register the dprog Jupyter kernel (tools/kernel.py) with Jupyter.

The kernel spec runs this Python (`sys.executable -m dprog.tools.kernel`), so the kernel
uses the dprog installed where `dp` is. jupyter_client (which ipykernel brings) is
imported only here, when the command runs.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

USAGE = """usage: dp kernel install [--user | --sys-prefix | --prefix DIR] [--name NAME]
                         [--display-name TEXT]

  Register the dprog kernel with Jupyter, so notebooks can use it.
  --user          for the current user only (the default)
  --sys-prefix    in this Python environment (sys.prefix): for a virtualenv or conda env
  --prefix DIR    under DIR/share/jupyter/kernels
  --name NAME     the kernel's name (default: dprog)
"""


def kernel_spec() -> dict:
    """The kernel.json contents: how Jupyter starts the kernel."""
    return {"argv": [sys.executable, "-m", "dprog.tools.kernel", "-f", "{connection_file}"],
            "display_name": "dprog", "language": "dprog", "interrupt_mode": "signal",
            "metadata": {"debugger": False}}


def _parse(args: list[str]) -> dict | str:
    """The install options, or an error message."""
    opts: dict = {"user": True, "prefix": None, "name": "dprog", "display_name": "dprog"}
    where = 0
    while args:
        a, args = args[0], args[1:]
        if a == "--user":
            where += 1
        elif a == "--sys-prefix":
            opts.update(user=False, prefix=sys.prefix)
            where += 1
        elif a in ("--prefix", "--name", "--display-name"):
            if not args:
                return f"{a} needs an argument"
            key = {"--prefix": "prefix", "--name": "name", "--display-name": "display_name"}[a]
            opts[key], args = args[0], args[1:]
            if a == "--prefix":
                opts["user"] = False
                where += 1
        else:
            return f"unknown option {a}"
    if where > 1:
        return "give only one of --user, --sys-prefix, --prefix"
    if not opts["name"].replace("-", "").replace("_", "").replace(".", "").isalnum():
        return f"not a valid kernel name: {opts['name']!r} (letters, digits, - _ .)"
    return opts


def kernel_command(args: list[str]) -> int:
    """`dp kernel ...`: the exit status."""
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    if args[0] != "install":
        sys.stderr.write(f"dp kernel: unknown command {args[0]!r}\n{USAGE}")
        return 2
    opts = _parse(args[1:])
    if isinstance(opts, str):
        sys.stderr.write(f"dp kernel install: {opts}\n{USAGE}")
        return 2
    try:
        import ipykernel  # noqa: F401 - the kernel needs it where it runs: check now
        from jupyter_client.kernelspec import KernelSpecManager
    except ImportError:
        sys.stderr.write("dp kernel install: the kernel needs ipykernel, which is not "
                         "installed\n  install it: pip install 'dprog[notebook]'\n")
        return 1
    spec = dict(kernel_spec(), display_name=opts["display_name"])
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "kernel.json"), "w", encoding="utf-8") as fh:
            json.dump(spec, fh, indent=1)
        try:
            dest = KernelSpecManager().install_kernel_spec(
                tmp, kernel_name=opts["name"], user=opts["user"], prefix=opts["prefix"])
        except OSError as exc:
            sys.stderr.write(f"dp kernel install: cannot write the kernel spec: "
                             f"{exc.strerror or exc}\n  try --user, or --prefix DIR\n")
            return 1
    sys.stdout.write(f"installed the dprog kernel {opts['name']!r} in {dest}\n")
    return 0
