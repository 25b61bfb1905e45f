"""Per-interpreter run-time state: limits, step budget, output, random stream.

One `Runtime` belongs to one `Interpreter`; compiled code holds a reference
to it, so two interpreters never share state.
"""

from __future__ import annotations

import os
import sys
import time

from ..core.backend import xp
from ..core.errors import DpError, DpImportError, DpInterrupt, DpLimitError
from ..core.lazy import lazy_module
from ..core.limits import check_memory

# vmap's signal, imported when a vmap runs (core/lazy.py)
batching = lazy_module("dprog.ad.batching")

# How many evaluation steps run between checks of the interrupt flag and the step limit.
# With a timeout the chunk adapts so that the clock is read every few milliseconds, even
# when each step is an expensive array operation.
_CHUNK = 20_000
_TIMED_CHUNK = 16
_CHECK_EVERY = 0.005  # seconds between clock reads, aimed for


class Runtime:
    def __init__(self, *, max_steps: int | None = None, max_depth: int = 1000,
                 max_array_elements: int = 250_000_000, allow_files: bool = False,
                 check_nans: bool = False, stdout=None, stderr=None,
                 max_memory: int | None = None, max_output: int | None = None):
        self.max_steps = max_steps
        self.max_memory = max_memory
        self.max_output = max_output
        self.output_left = max_output if max_output is not None else -1
        self.max_depth = max_depth
        self.max_array_elements = max_array_elements
        self.allow_files = allow_files
        self.check_nans = check_nans
        # "fast" (compiler/pysource.py) or "reference" (compiler/codegen.py's closures,
        # also what --check-nans uses; DPROG_COMPILER=reference picks it for a whole run),
        # or "unfused" (the fast one without fusion.py); tests/test_compilers.py compares them
        self.compiler = os.environ.get("DPROG_COMPILER", "fast")
        self.stdout = stdout
        self.stderr = stderr
        self.depth = 0
        self.steps_left = max_steps if max_steps is not None else -1
        self.budget = self.chunk = self.full_chunk = _CHUNK
        self.last_check = 0.0
        self.deadline: float | None = None
        self.interrupt_requested = False
        self._rng = None
        self._seed = 0  # where the random stream starts when it is first used
        self.interp = None  # the owning Interpreter (modules, argv)
        # the vmaps whose batched attempt is running, innermost last (side_effect)
        self.batch_traces: list = []
        # --explain-vmap: where vmap fell back to one run per example, else None
        self.vmap_fallbacks: list | None = None
        # While a progress bar is shown: a context manager that takes the bar off the
        # terminal around a write and draws it again below (lib/other.py sets it).
        self.write_guard = None
        self.plots = None  # lib/plots.py's figures, made when a program first plots

    def __getstate__(self) -> dict:
        """Pickled with its interpreter: limits, flags and the random stream travel;
        the output streams and the state of a running call do not."""
        state = dict(self.__dict__)
        for k in ("stdout", "stderr", "echo"):
            state.pop(k, None)
        state["depth"] = 0
        state["interrupt_requested"] = False
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.stdout = self.stderr = None

    @property
    def rng(self):
        """The seeded random stream (made on first use: numpy.random is slow to import)."""
        if self.batch_traces:
            self.side_effect("a random draw")
        if self._rng is None:
            self._rng = xp.random.default_rng(self._seed)
        return self._rng

    @rng.setter
    def rng(self, value) -> None:
        if self.batch_traces:
            self.side_effect("seeding the random stream")
        self._rng = value

    # ------------------------------------------------------------------ vmap
    def batching(self, trace):
        """While a vmap's batched attempt runs: see `side_effect`."""
        return _Batching(self.batch_traces, trace)

    def side_effect(self, what: str) -> None:
        """Called before output, a random draw or a file write. Inside a batched vmap
        attempt it asks for the per-example run instead, so that the output and the
        random stream are exactly those of a loop over the examples."""
        if self.batch_traces:
            raise batching.NeedsPerExample(self.batch_traces[-1], f"{what} inside vmap")

    def seed_lazily(self, seed) -> None:
        """Restart the random stream from `seed` (anything default_rng takes) when it is
        next used: parallel_map gives each element a stream, most never draw from it,
        and making a Generator costs tens of microseconds."""
        self._rng = None
        self._seed = seed

    # ------------------------------------------------------------------ steps
    def start(self, timeout: float | None = None) -> None:
        """Reset the per-call budget before an exec/eval."""
        self.steps_left = self.max_steps if self.max_steps is not None else -1
        now = time.monotonic()
        self.deadline = now + timeout if timeout else None
        self.last_check = now
        self.full_chunk = _TIMED_CHUNK if self.deadline is not None else _CHUNK
        self.chunk = self.budget = (min(self.full_chunk, self.steps_left)
                                    if self.steps_left >= 0 else self.full_chunk)
        self.interrupt_requested = False
        self.output_left = self.max_output if self.max_output is not None else -1

    def refill(self) -> None:
        """Called when `budget` runs out: enforce max_steps, the timeout and interrupts."""
        if self.interrupt_requested:
            self.interrupt_requested = False
            raise DpInterrupt("interrupted", None, None)
        if self.max_memory is not None:
            check_memory()
        if self.deadline is not None:
            now = time.monotonic()
            if now > self.deadline:
                raise DpLimitError("time limit exceeded", None,
                                   "the program ran longer than the host's timeout")
            spent, self.last_check = now - self.last_check, now
            if spent > 2 * _CHECK_EVERY:
                self.full_chunk = max(1, self.full_chunk // 4)
            elif spent < _CHECK_EVERY / 2 and self.full_chunk < _CHUNK:
                self.full_chunk *= 2
        if self.steps_left >= 0:
            self.steps_left -= self.chunk
            if self.steps_left <= 0:
                raise DpLimitError(
                    f"step limit of {self.max_steps} evaluation steps exceeded", None,
                    "the program may loop forever; raise max_steps if it is just long")
            self.chunk = self.budget = min(self.full_chunk, self.steps_left)
        else:
            self.chunk = self.budget = self.full_chunk

    def too_deep(self) -> DpLimitError:
        return DpLimitError(f"recursion depth limit exceeded ({self.max_depth} dprog calls)",
                            None, "is a recursive function missing its base case?")

    def write(self, text: str) -> None:
        if self.batch_traces:
            self.side_effect("printing")
        if self.output_left >= 0:
            self.output_left -= len(text)
            if self.output_left < 0:
                self.output_left = 0
                raise DpLimitError(f"output limit of {self.max_output} characters per call "
                                   "exceeded", None,
                                   "print less (summaries instead of whole values), or "
                                   "raise max_output")
        out = self.stdout if self.stdout is not None else sys.stdout
        try:
            if self.write_guard is not None:
                with self.write_guard():
                    out.write(text)
                    out.flush()  # before the bar is drawn again below the text
                return
            out.write(text)
        except BrokenPipeError:
            raise OutputClosed() from None
        except OSError as exc:  # a full disk, a device error: the host's problem
            raise DpImportError(f"cannot write the output: {exc.strerror or exc}", None,
                                "check where standard output goes") from None


class OutputClosed(BaseException):
    """Standard output was closed by its reader (`dp prog.dp | head`): stop quietly.

    A BaseException so that no dprog error handler turns it into a report.
    """


class _Batching:
    """`Runtime.batching`'s context: the trace is on the stack while the attempt runs."""

    __slots__ = ("stack", "trace")

    def __init__(self, stack: list, trace):
        self.stack = stack
        self.trace = trace

    def __enter__(self):
        self.stack.append(self.trace)

    def __exit__(self, *exc):
        self.stack.pop()
        return False


# parallel_map's element bookkeeping, shared by lib/parallel.py (elements run here) and
# host/parallel.py (on an executor), which then need not import each other
def element_seed(base: int, i: int) -> list:
    """The seed of element i's random stream in a parallel_map whose caller drew `base`."""
    return [base, i]


def mark_element(err: DpError, i: int, n: int, others: int = 0) -> DpError:
    """Name the failing element's position in an error from parallel_map's f."""
    also = f"; {others} other element{'s' if others != 1 else ''} failed too" if others else ""
    err.message = f"{err.message} (in parallel_map, element {i} of {n}{also})"
    err.args = (err.message,)
    return err
