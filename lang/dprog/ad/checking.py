"""`check_grad`: compare a function's reverse-mode gradient, entry by entry, with
forward mode and with central differences."""

from __future__ import annotations

from ..core.backend import xp
from ..core.errors import DpDifferentiationError
from ..core.values import kind_of, strip
from .transforms import jvp_call, value_and_grad_call
from .trees import flatten, to_float, unflatten, zeros_like, zeros_tree


def check_grad_call(f, args: tuple, rtol=1e-5, atol=1e-6, eps=1e-6):
    """Compare reverse, forward and central-difference derivatives of scalar f."""
    nums = tuple(range(len(args)))
    _, grads = value_and_grad_call(f, args, {}, nums, "check_grad")
    worst = None
    for k, a in enumerate(args):
        leaves, shp = flatten(a, f"argument {k + 1} of `check_grad`")
        g_leaves, _ = flatten(grads[k])
        for li, (x, g) in enumerate(zip(leaves, g_leaves)):
            x = to_float(strip(x))
            g = xp.asarray(strip(g), dtype=float)
            flat = xp.atleast_1d(xp.asarray(x, dtype=float)).reshape(-1)
            for j in range(flat.size):
                def with_value(delta, j=j, li=li, k=k):
                    new_leaves = list(leaves)
                    if xp.ndim(x) == 0:
                        new_leaves[li] = x + delta
                    else:
                        arr = xp.array(x, dtype=float, order="C")  # reshape(-1) must be a view
                        arr.reshape(-1)[j] += delta
                        new_leaves[li] = arr
                    new_args = list(args)
                    new_args[k] = unflatten(shp, new_leaves)
                    return new_args

                def central(h):
                    fp = _plain_scalar(f(*with_value(h)))
                    fm = _plain_scalar(f(*with_value(-h)))
                    return (fp - fm) / (2 * h)

                h = float(eps * max(1.0, abs(float(flat[j]))))
                fd = central(h)
                tangent_leaves = [zeros_like(v) for v in leaves]
                if xp.ndim(x) == 0:
                    tangent_leaves[li] = 1.0
                else:
                    e = xp.zeros(xp.shape(x))
                    e.reshape(-1)[j] = 1.0
                    tangent_leaves[li] = e
                tangents = tuple(unflatten(shp, tangent_leaves) if kk == k
                                 else zeros_tree(args[kk]) for kk in range(len(args)))
                _, tf = jvp_call(f, tuple(args), tangents)
                fwd = _plain_scalar(tf)
                rev = float(xp.reshape(g, -1)[j]) if xp.ndim(g) else float(g)
                scale = max(abs(fd), abs(rev), abs(fwd), 1.0)
                err = max(abs(rev - fwd), abs(rev - fd), abs(fwd - fd))
                tol = atol + rtol * scale * 10
                # a step too large for a function that curves fast near this point
                # (sqrt near 0): retry with smaller steps before calling it a mismatch
                for k_small in (1e-2, 1e-4):
                    if err <= tol:
                        break
                    fd2 = central(h * k_small)
                    err2 = max(abs(rev - fwd), abs(rev - fd2), abs(fwd - fd2))
                    if err2 < err:
                        fd, err = fd2, err2
                bad = err - tol
                if worst is None or bad > worst[0]:
                    where = f"argument {k + 1}"
                    if len(leaves) > 1 or shp is not None:
                        where += f", leaf {li + 1}"
                    if xp.ndim(x):
                        pos = tuple(int(i) for i in xp.unravel_index(j, xp.shape(x)))
                        where += f", entry {pos}"
                    worst = (bad, where, rev, fwd, fd)
    if worst is not None and worst[0] > 0:
        _, where, rev, fwd, fd = worst
        raise DpDifferentiationError(
            f"check_grad: derivatives disagree at {where}: reverse {rev!r}, "
            f"forward {fwd!r}, central difference {fd!r}", None,
            "a custom rule may be wrong, or the function is not differentiable here")
    return True


def _plain_scalar(v) -> float:
    v = strip(v)
    if type(v) is xp.ndarray:
        if v.size != 1:
            raise DpDifferentiationError(
                f"check_grad needs a function that returns a scalar, got shape {v.shape}", None,
                None)
        return float(v.reshape(()))
    if type(v) not in (float, int, bool):
        raise DpDifferentiationError(
            f"check_grad needs a function that returns a scalar, got {kind_of(v)}", None, None)
    return float(v)
