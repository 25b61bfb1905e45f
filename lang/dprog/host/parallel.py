"""parallel_map's elements on an executor: a Dask client or a concurrent.futures one.

The caller pickles its interpreter and f once (cloudpickle when installed, as Dask
does, so Python functions given to `define` travel too) and each element
separately; a worker unpickles the interpreter once per payload (cached), runs
one element under the interpreter's limits with its own random stream and its
output captured, and sends back the result, or the dprog error, and the text
it printed. The caller writes every element's output in element order, then
returns the results or raises the error of the first failing element.

Dask (`dask.distributed`) is an optional extra, imported only by `local_client`
and `connect_client`, which the `dp` command calls for --workers / --scheduler.
"""

from __future__ import annotations

import io
import pickle
import time
from collections import OrderedDict

from ..core.errors import DpError, DpHostError, DpInterrupt, DpLimitError, DpTypeError
from ..core.values import TracedPickleError
from ..runtime.state import element_seed, mark_element
from .threads import blas_limit

_WORKER_THREADS = 1  # BLAS threads per worker unless the interpreter says otherwise
_LOADED: OrderedDict = OrderedDict()  # payload -> (interpreter, f), in a worker
_KEEP_LOADED = 4
_POLL = 0.25  # seconds between checks of the time limit and interrupts while waiting


def _dumps(obj) -> bytes:
    try:
        import cloudpickle  # lazily, and optional: it ships with Dask
    except ImportError:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def run_on_executor(interp, f, elems: list, base: int) -> list | None:
    """The results of f over elems, run on `interp.executor`; None when something
    to send is being differentiated (then parallel_map runs the elements here)."""
    try:
        payload = _dumps((interp, f))
        blobs = [_dumps(x) for x in elems]
    except TracedPickleError:
        return None
    except DpError:
        raise
    except Exception as exc:
        raise DpTypeError(
            f"`parallel_map` cannot send `{getattr(f, 'name', 'f')}` to its workers: "
            f"{type(exc).__name__}: {exc}", None,
            "Python functions reached from f (given to define() or as globals) must be "
            "picklable: define them at module level, or install cloudpickle") from None
    threads = interp.threads if interp.threads is not None else _WORKER_THREADS
    rt = interp.rt
    outcomes = _submit_all(interp.executor, rt, payload, blobs, base, threads)
    return _collect(rt, outcomes, len(elems))


def _wait(fut, rt):
    """fut's outcome; meanwhile the caller's time limit and interrupt requests hold."""
    while True:
        wait = _POLL
        if rt.deadline is not None:
            wait = min(wait, max(rt.deadline - time.monotonic(), 0.0))
        try:
            return fut.result(timeout=wait)
        except TimeoutError:
            pass
        if rt.interrupt_requested:
            rt.interrupt_requested = False
            raise DpInterrupt("interrupted", None, None)
        if rt.deadline is not None and time.monotonic() >= rt.deadline:
            raise DpLimitError("time limit exceeded while waiting for parallel_map's workers",
                               None, "the program ran longer than the host's timeout")


def _submit_all(ex, rt, payload: bytes, blobs: list, base: int, threads: int) -> list:
    """Submit every element, then wait for all of them (in order)."""
    if hasattr(ex, "scatter"):  # a Dask client: send the payload to the workers once
        payload = ex.scatter(payload, broadcast=False)
    futures = [ex.submit(run_element, payload, blob, i, base, threads)
               for i, blob in enumerate(blobs)]
    outcomes = []
    try:
        for i, fut in enumerate(futures):
            try:
                outcomes.append(_wait(fut, rt))
            except DpError:
                raise
            except Exception as exc:  # the executor's failure, not the program's
                outcomes.append((False, DpHostError(
                    f"the worker running element {i} failed: {type(exc).__name__}: {exc}",
                    None, "the executor reported this (a worker may have died or run out of "
                    "memory)"), ""))
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    return outcomes


def _collect(rt, outcomes: list, n: int) -> list:
    """Write the outputs in element order; the results, or the first element's error."""
    results, failed = [], []
    for i, (ok, value, text) in enumerate(outcomes):
        if text:
            rt.write(text)
        if ok:
            results.append(pickle.loads(value))
        else:
            failed.append((i, value))
    if failed:
        i, err = failed[0]
        err.frame_noted = False
        raise mark_element(err, i, n, len(failed) - 1)
    return results


def _load(payload: bytes):
    """The unpickled (interpreter, f) of a payload, once per worker process: elements
    of one parallel_map share it, so the program is compiled once per worker."""
    got = _LOADED.get(payload)  # (bytes hash their content, once)
    if got is None:
        got = _LOADED[payload] = pickle.loads(payload)
        while len(_LOADED) > _KEEP_LOADED:
            _LOADED.popitem(last=False)
    else:
        _LOADED.move_to_end(payload)
    return got


def run_element(payload: bytes, blob: bytes, i: int, base: int, threads: int):
    """On a worker: (True, f(x) pickled, printed text) or (False, the DpError, printed
    text). The result is pickled here, so a result that cannot travel back is a dprog
    error of its element rather than a failure of the executor."""
    interp, f = _load(payload)
    rt = interp.rt
    out = io.StringIO()
    with interp._lock:  # a worker with several threads runs one element at a time
        rt.stdout = rt.stderr = out
        try:
            x = pickle.loads(blob)
            rt.seed_lazily(element_seed(base, i))
            with blas_limit(threads), interp._running():
                value = f(x)
            return True, _result_bytes(value), out.getvalue()
        except DpError as err:
            return False, err, out.getvalue()
        finally:
            rt.stdout = rt.stderr = None


def _result_bytes(value) -> bytes:
    try:
        return _dumps(value)
    except Exception as exc:
        raise DpTypeError(f"the result cannot be sent back from the worker: {exc}", None,
                          "return numbers, arrays, strings, tuples, records or functions; "
                          "a pullback from vjp cannot leave the process that made it") from None


def local_client(workers: int):
    """A Dask client of a new LocalCluster of `workers` processes (one thread each)."""
    try:
        from dask.distributed import Client, LocalCluster  # lazily: an optional extra
    except ImportError:
        raise _no_dask() from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    return Client(cluster)


def connect_client(address: str, timeout: float = 10.0):
    """A Dask client of the scheduler at `address` (OSError if it cannot be reached)."""
    try:
        from dask.distributed import Client  # lazily: an optional extra
    except ImportError:
        raise _no_dask() from None
    return Client(address, timeout=timeout)


def _no_dask() -> DpHostError:
    return DpHostError("running on workers needs Dask, which is not installed", None,
                       "pip install 'dprog[dask]'")
