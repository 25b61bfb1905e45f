"""Which engines the transformations run: the fast paths, or the reference engines.

`forward.py` and `reverse.py` are the readable reference engines; `fastforward.py`
and `fastpath.py` subclass them with their special cases. The transformations make their
traces through `new_forward_trace` and `new_tape`, which give the fast engines;
`reference_engines()` switches to the reference ones so that the property tests
can require both to give the same values and derivatives.
"""

from __future__ import annotations

from contextlib import contextmanager

from .fastforward import FastForwardTrace
from .fastpath import FastTape
from .forward import ForwardTrace
from .reverse import Tape

_FAST = (FastForwardTrace, FastTape)
_REFERENCE = (ForwardTrace, Tape)
_engines = _FAST


def new_forward_trace(batch: int | None = None) -> ForwardTrace:
    """A forward-mode trace (with a batch of tangents for `jacfwd`)."""
    return _engines[0](batch)


def new_tape() -> Tape:
    """A reverse-mode tape."""
    return _engines[1]()


@contextmanager
def reference_engines():
    """Run the transformations on the reference engines (for tests; not thread-safe)."""
    global _engines
    saved, _engines = _engines, _REFERENCE
    try:
        yield
    finally:
        _engines = saved
