"""The transformations: gradients, JVPs, VJPs, Jacobians, Hessians and HVPs, each
built from one or two traces (`engines.new_tape`, `engines.new_forward_trace`)."""

from __future__ import annotations

import _thread
import gc
import math
import weakref

from ..core.backend import xp
from ..core.errors import DpDifferentiationError, DpTypeError
from ..core.limits import check_deadline
from ..core.values import BATCH_TYPES, kind_of, strip_derivatives
from ..prims import primitives as P
from .batching import vmap_call
from .engines import new_forward_trace, new_tape
from .forward import Dual
from .reverse import RNode
from .trees import conform, flatten, to_float, unflatten, zeros_like


def check_argnums(argnums, nargs: int, what: str) -> tuple[tuple[int, ...], bool]:
    single = not isinstance(argnums, tuple)
    nums = (argnums,) if single else argnums
    for a in nums:
        if type(a) is not int:
            raise DpTypeError(f"`{what}`: argnums must be an int or a tuple of ints", None)
        if not -nargs <= a < nargs:
            raise DpDifferentiationError(
                f"`{what}`: argnums={a} but the function was called with {nargs} "
                f"argument{'s' if nargs != 1 else ''}", None, None)
    return tuple(a % nargs for a in nums), single


# While a tape grows the cyclic collector runs rarely: these thresholds, instead of the
# default (700, 10, 10). Measured on W1: as fast as disabling it, without doing so.
_RECORDING_THRESHOLDS = (100_000, 50, 1000)
_gc_lock = _thread.allocate_lock()
_gc_users = 0
_gc_saved: tuple = ()


class recording:  # noqa: N801 - used as `with recording():`, like a function
    """Make the cyclic garbage collector run rarely while a tape grows.

    A tape holds one or two small objects per primitive call; the collector
    would rescan them over and over (it doubled W1's time). The collector is
    never disabled: its thresholds are raised while any thread records (they
    are process-wide) and put back after the last recording, unless the host
    changed them meanwhile; a host's own gc.disable()/gc.enable() is left alone
    (issue 18, item 11). A host that turned automatic collection off with
    threshold 0 keeps it off. (A class, not a generator: it runs once per `grad`
    call, and `vmap(grad(f))` calls are short.)
    """

    __slots__ = ()

    def __enter__(self):
        global _gc_users, _gc_saved
        with _gc_lock:
            if _gc_users == 0:
                _gc_saved = gc.get_threshold()
                if _gc_saved[0] != 0:
                    gc.set_threshold(*_RECORDING_THRESHOLDS)
            _gc_users += 1

    def __exit__(self, *exc):
        global _gc_users
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and gc.get_threshold() == _RECORDING_THRESHOLDS:
                gc.set_threshold(*_gc_saved)
        return False


def value_and_grad_call(f, args: tuple, kwargs: dict, argnums=0, what="grad"):
    """Evaluate f(*args) on a fresh tape; return (value, gradient w.r.t. argnums)."""
    check_deadline()  # per nested level: an inner transformation may run many times
    with recording():
        return _value_and_grad(f, args, kwargs, argnums, what)


def _value_and_grad(f, args, kwargs, argnums, what):
    nums, single = check_argnums(argnums, len(args), what)
    tape = new_tape()
    args = list(args)
    leaf_nodes = {}
    shapes = {}
    for a in nums:
        leaves, shp = flatten(args[a], f"argument {a + 1} of the function given to `{what}`")
        nodes = [tape.leaf(to_float(x)) for x in leaves]
        leaf_nodes[a] = nodes
        shapes[a] = shp
        args[a] = unflatten(shp, nodes)
    out = f(*args, **kwargs)
    value = _scalar_output(out, tape, what)
    if type(out) is RNode and out._trace is tape:
        s = P.shape(out)  # a one-element array output is seeded with ones of its shape
        ct = tape.backward([(out.idx, xp.ones(s) if s else 1.0)])
    else:
        ct = None
    grads = []
    for a in nums:
        gl = []
        for node in leaf_nodes[a]:
            g = ct[node.idx] if ct is not None else None
            gl.append(g if g is not None else zeros_like(node.primal))
        grads.append(unflatten(shapes[a], gl))
    tape.release()
    return value, grads[0] if single else tuple(grads)


def _scalar_output(out, tape, what):
    value = out.primal if type(out) is RNode and out._trace is tape else out
    v = strip_derivatives(value)  # (a vmap's batch stands for one example's value)
    if type(v) is xp.ndarray or type(v) in BATCH_TYPES:
        s = P.shape(v)
        if s:
            if math.prod(s) == 1:
                return P.reshape(value, ())
            raise DpDifferentiationError(
                f"`{what}` needs a function that returns a scalar, but it returned an array "
                f"of shape {s}", None,
                "use `jacobian(f)` for the full Jacobian, or `vjp(f, x)` for a "
                "vector-Jacobian product")
    elif type(v) not in (float, int):
        raise DpDifferentiationError(
            f"`{what}` needs a function that returns a scalar, but it returned {kind_of(v)}",
            None, "return a number, e.g. a loss summed with `sum(...)`")
    return value


def jvp_call(f, primals: tuple, tangents: tuple, batch: int | None = None):
    """(f(primals), J·tangents) by forward mode; tangents match primals' structure."""
    trace = new_forward_trace(batch)
    args = []
    for k, (p, t) in enumerate(zip(primals, tangents)):
        pl, ps = flatten(p, f"primal {k + 1} of `jvp`")
        tl, ts = flatten(conform(t, ps), f"tangent {k + 1} of `jvp`")
        if ps != ts or len(pl) != len(tl):
            raise DpDifferentiationError(
                f"`jvp`: tangent {k + 1} does not have the structure of primal {k + 1}", None,
                "give one tangent per primal, of the same shape")
        duals = []
        for x, t1 in zip(pl, tl):
            x = to_float(x)
            t1 = to_float(t1)
            want = (batch,) + P.shape(x) if batch is not None else P.shape(x)
            if P.shape(t1) != want:
                if batch is None:
                    raise DpDifferentiationError(
                        f"`jvp`: a tangent has shape {P.shape(t1)} but its primal has shape "
                        f"{P.shape(x)}", None, "tangents must have the shape of their primals")
            duals.append(Dual(trace, x, t1))
        args.append(unflatten(ps, duals))
    out = f(*args)
    return _split_dual_tree(out, trace, batch)


def _split_dual_tree(out, trace, batch):
    leaves, shp = flatten(out, "result of the function")
    ps, ts = [], []
    for x in leaves:
        if type(x) is Dual and x._trace is trace:
            ps.append(x.primal)
            ts.append(x.tangent)
        else:
            ps.append(x)
            z = zeros_like(x)
            if batch is not None:
                P.check_size(batch * math.prod(P.shape(x)))
                z = xp.zeros((batch,) + P.shape(x))
            ts.append(z)
    return unflatten(shp, ps), unflatten(shp, ts)


def vjp_call(f, args: tuple):
    """(f(args), pullback) with pullback(ct) -> tuple of cotangents, one per argument."""
    with recording():
        value, pullback, tape = _vjp(f, args)
    weakref.finalize(pullback, tape.release)  # the pullback gone, its arrays go too
    return value, pullback


def _vjp(f, args):
    """(value, pullback, tape); a caller that pulls back once releases the tape after,
    which frees the recorded arrays at once (records and nodes refer to each other, so
    otherwise only the cyclic collector frees them, rarely while tapes record)."""
    tape = new_tape()
    new_args = []
    structures = []
    for k, a in enumerate(args):
        leaves, shp = flatten(a, f"argument {k + 1} of `vjp`")
        nodes = [tape.leaf(to_float(x)) for x in leaves]
        structures.append((shp, nodes))
        new_args.append(unflatten(shp, nodes))
    out = f(*new_args)
    out_leaves, out_shape = flatten(out, "result of the function given to `vjp`")
    value = unflatten(out_shape, [x.primal if type(x) is RNode and x._trace is tape else x
                                  for x in out_leaves])

    def pullback(ct):
        ct_leaves, ct_shape = flatten(conform(ct, out_shape), "cotangent given to the pullback")
        if ct_shape != out_shape or len(ct_leaves) != len(out_leaves):
            raise DpDifferentiationError("the cotangent does not have the structure of the "
                                         "function's result", None,
                                         "pass one value shaped like the result")
        seeds = []
        for o, c in zip(out_leaves, ct_leaves):
            if P.shape(o) != P.shape(c):
                raise DpDifferentiationError(
                    f"the cotangent has shape {P.shape(c)} but the result has shape "
                    f"{P.shape(o)}", None, "pass one value shaped like the result")
            if type(o) is RNode and o._trace is tape:
                seeds.append((o.idx, to_float(c)))
        cts = tape.backward(seeds) if seeds else None
        res = []
        for shp, nodes in structures:
            gl = []
            for node in nodes:
                g = cts[node.idx] if cts is not None else None
                gl.append(g if g is not None else zeros_like(node.primal))
            res.append(unflatten(shp, gl))
        return tuple(res)

    return value, pullback, tape


class _TreeResult(Exception):
    """Raised by the array Jacobians when f returns a tree: the tree path takes over."""


def _single_array_arg(x, what):
    leaves, shp = flatten(x, f"argument of `{what}`")
    if shp is not None:
        raise _TreeResult
    return to_float(leaves[0])


def hessian_call(f, x, extra: tuple = ()):
    """jacfwd(jacrev(f)); a tree argument gives a tree of trees (rows, then columns)."""
    flatten(x, "argument of `hessian`")  # reports a bad argument under hessian's name
    return jacfwd_call(lambda z: jacrev_call(f, z, extra), x)


def _flat_problem(f, x, extra):
    """f as a function of one flat vector (all leaves of x, raveled and joined).

    Returns (flat_f, v0, in_structure, out_info): `flat_f` returns the output's
    leaves raveled and joined too, and records the output's structure in
    `out_info` when it runs.
    """
    leaves, in_shape = flatten(x, "argument of a Jacobian")
    leaves = [to_float(v) for v in leaves]
    shapes = [P.shape(v) for v in leaves]
    sizes = [math.prod(s) if s else 1 for s in shapes]
    out_info: list = []

    def flat_f(v):
        parts, off = [], 0
        for shp, n in zip(shapes, sizes):
            parts.append(P.reshape(P.getitem(v, (slice(off, off + n),)), shp))
            off += n
        out = f(unflatten(in_shape, parts), *extra)
        ol, oshape = flatten(out, "result")
        out_info[:] = [(oshape, [P.shape(o) for o in ol])]
        return P.concat([P.reshape(o, (math.prod(P.shape(o)) if P.shape(o) else 1,))
                         for o in ol])

    v0 = P.concat([P.reshape(v, (n,)) for v, n in zip(leaves, sizes)])
    return flat_f, v0, (in_shape, shapes), out_info


def _tree_jacobian(method, f, x, extra):
    flat_f, v0, cols, out_info = _flat_problem(f, x, extra)
    jac = method(flat_f, v0, ())
    return _split_jacobian(jac, out_info[0], cols)


def _split_jacobian(jac, rows, cols):
    """Cut a (M, N) Jacobian into the blocks of a tree of trees: for each leaf of
    the rows' structure, a tree shaped like the columns' structure whose leaves
    have shape row_leaf.shape + col_leaf.shape (JAX's convention)."""
    (rshape, rshapes), (cshape, cshapes) = rows, cols
    out, r = [], 0
    for rs in rshapes:
        m = math.prod(rs) if rs else 1
        blocks, c = [], 0
        for cs in cshapes:
            n = math.prod(cs) if cs else 1
            block = P.getitem(jac, (slice(r, r + m), slice(c, c + n)))
            blocks.append(P.reshape(block, tuple(rs) + tuple(cs)))
            c += n
        out.append(unflatten(cshape, blocks))
        r += m
    return unflatten(rshape, out)


def _jacfwd(f, x, extra: tuple = ()):
    x = _single_array_arg(x, "jacfwd")
    xs = P.shape(x)
    if not xs:
        out, t = jvp_call(lambda v: f(v, *extra), (x,), (1.0,))
        return _as_jac(t)
    n = math.prod(xs)
    P.check_size(n * n, "a Jacobian basis")
    basis = P.identity_basis(n, xs)
    out, t = jvp_call(lambda v: f(v, *extra), (x,), (basis,), batch=n)
    return _batched_to_jac(out, t, xs)


def _as_jac(t):
    leaves, shp = flatten(t, "result")
    if shp is not None:
        raise _TreeResult
    return t


def _batched_to_jac(out, t, xs):
    leaves, shp = flatten(out, "result")
    if shp is not None:
        raise _TreeResult
    ys = P.shape(out)
    # t: (n,) + ys  ->  ys + xs
    nd = len(ys)
    tt = P.transpose(t, tuple(range(1, nd + 1)) + (0,)) if nd else t
    return tt if P.shape(tt) == ys + xs else P.reshape(tt, ys + xs)


def _jacrev(f, x, extra: tuple = ()):
    x = _single_array_arg(x, "jacrev")
    xs = P.shape(x)
    with recording():
        out, pull, tape = _vjp(lambda v: f(v, *extra), (x,))
    try:
        return _jacrev_rows(out, pull, xs)
    finally:
        tape.release()


def _jacrev_rows(out, pull, xs):
    """The Jacobian of `out` (a result of `_vjp`) from its pullback, in one pass."""
    leaves, shp = flatten(out, "result")
    if shp is not None:
        raise _TreeResult
    ys = P.shape(out)
    if not ys:
        return pull(1.0)[0]
    m = math.prod(ys)
    if m == 0:  # an empty result: an empty Jacobian (stack needs one row)
        return xp.zeros(ys + xs)
    P.check_size(m * max(1, math.prod(xs)), "a Jacobian")
    check_deadline()
    # one backward pass for all rows: the pullback vmapped over the basis of cotangents
    basis = xp.eye(m).reshape((m,) + ys)
    jac = vmap_call(lambda e: pull(e)[0], (basis,), 0, 0)
    return jac if P.shape(jac) == ys + xs else P.reshape(jac, ys + xs)


def _jacobian(f, x, extra: tuple = ()):
    """Reverse mode when outputs are fewer than inputs, else forward (one extra evaluation)."""
    xv = _single_array_arg(x, "jacobian")
    n = math.prod(P.shape(xv)) if P.shape(xv) else 1
    out = f(xv, *extra)
    leaves, shp = flatten(out, "result")
    if shp is not None:
        raise _TreeResult
    m = math.prod(P.shape(out)) if P.shape(out) else 1
    if m < n:
        return _jacrev(f, xv, extra)
    return _jacfwd(f, xv, extra)


def _trees_too(method, doc):
    """A Jacobian operation that also takes and returns trees (see `_tree_jacobian`):
    the array version runs first and hands over when it meets a tree."""
    def call(f, x, extra: tuple = ()):
        try:
            return method(f, x, extra)
        except _TreeResult:
            return _tree_jacobian(method, f, x, extra)
    call.__doc__ = doc
    return call


jacfwd_call = _trees_too(_jacfwd, "The Jacobian by forward mode.")


jacrev_call = _trees_too(_jacrev, "The Jacobian by reverse mode.")


jacobian_call = _trees_too(_jacobian, "The Jacobian by the cheaper mode.")


def hvp_call(f, x, v):
    grad_f = lambda y: value_and_grad_call(f, (y,), {}, 0, "hvp")[1]  # noqa: E731
    return jvp_call(grad_f, (x,), (v,))[1]
