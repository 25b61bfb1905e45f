"""Differentiation (SPEC §6, issue 4): nesting, trees, custom rules, edges and errors.

The rule-by-rule property tests live in test_ad_properties.py; these tests are
about the transformations and the behaviours the spec names, at the Python
level (dprog.ad.engines with callables built from dprog.prims.primitives) and at the dprog
level (an embedded Interpreter).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import dprog
from conftest import run_dp
from dprog.ad.custom import call_checkpoint, call_custom_jvp, call_custom_vjp
from dprog.ad.reverse import Tape
from dprog.ad.transforms import jacfwd_call, jacrev_call, jvp_call, value_and_grad_call
from dprog.prims import primitives as P
from dprog.prims.elementwise import _safe_mul_np


# ====================================================================== helpers
def grad(f, argnums=0):
    return lambda *xs: value_and_grad_call(f, xs, {}, argnums, "grad")[1]


def deriv(f):
    """f' by forward mode (a Python-level `derivative`)."""
    def d(x):
        one = np.ones(np.shape(P.strip(x))) if np.ndim(P.strip(x)) else 1.0
        return jvp_call(f, (x,), (one,))[1]
    return d


@pytest.fixture
def it():
    out = io.StringIO()
    interp = dprog.Interpreter(stdout=out)
    interp.out = out
    return interp


def run(src, **kw):
    out = io.StringIO()
    interp = dprog.Interpreter(stdout=out, **kw)
    interp.exec(src, name="t.dp")
    return out.getvalue()


def close(a, b, tol=1e-9):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=tol, atol=tol)


# ============================================================ nesting / perturbation
class TestPerturbationConfusion:
    """d/dx [x * d/dy (x + y)] is 1 at every x: the inner derivative must not see x."""

    @staticmethod
    def inner_grad(x):
        return grad(lambda y: P.add(x, y))(1.0)

    @staticmethod
    def inner_fwd(x):
        return deriv(lambda y: P.add(x, y))(1.0)

    @pytest.mark.parametrize("x", [0.0, 1.0, -2.5, 7.0])
    @pytest.mark.parametrize("inner", ["grad", "derivative"])
    @pytest.mark.parametrize("outer", ["grad", "derivative", "jacfwd", "jacrev"])
    def test_classic_python(self, x, inner, outer):
        dy = self.inner_grad if inner == "grad" else self.inner_fwd

        def f(x):
            return P.mul(x, dy(x))

        if outer == "grad":
            r = grad(f)(x)
        elif outer == "derivative":
            r = deriv(f)(x)
        elif outer == "jacfwd":
            r = jacfwd_call(f, x)
        else:
            r = jacrev_call(f, x)
        assert r == 1.0

    @pytest.mark.parametrize("outer", ["grad", "derivative", "jacfwd", "jacrev", "jacobian"])
    @pytest.mark.parametrize("inner", ["grad", "derivative"])
    def test_classic_dprog(self, it, outer, inner):
        it.exec(f"fn f(x) {{ return x * {inner}(fn(y) => x + y)(1.0) }}")
        for x in (0.0, 3.0, -1.5):
            assert it.eval(f"{outer}(f)({x})") == 1.0

    def test_closure_product(self, it):
        # d/dx [x * d/dy (x * y)] = d/dx x^2 = 2x (confusion gives a different answer)
        it.exec("fn f(x) { return x * grad(fn(y) => x * y)(2.0) }")
        assert it.eval("grad(f)(3.0)") == 6.0
        assert it.eval("derivative(f)(3.0)") == 6.0

    def test_three_levels(self, it):
        # d/dx [x * d/dy [y * d/dz (x + y + z)]] = d/dx [x * 1] = 1
        it.exec("fn f(x) { return x * grad(fn(y) => y * derivative(fn(z) => x + y + z)(0.0))"
                "(1.0) }")
        assert it.eval("grad(f)(2.0)") == 1.0
        assert it.eval("derivative(f)(2.0)") == 1.0

    def test_inner_transform_of_outer_variable(self, it):
        # the inner grad is w.r.t. x itself, evaluated at the outer traced x
        it.exec("fn f(x) { return grad(fn(u) => u * u * x)(x) }")  # 2 x^2
        assert it.eval("grad(f)(3.0)") == 12.0
        assert it.eval("derivative(f)(3.0)") == 12.0


class TestHigherOrder:
    def test_grad_of_grad(self, it):
        assert it.eval("grad(grad(fn(x) => x ** 3))(2.0)") == 12.0
        assert it.eval("grad(grad(grad(fn(x) => x ** 3)))(2.0)") == 6.0
        close(it.eval("grad(grad(grad(sin)))(0.7)"), -math.cos(0.7))
        close(it.eval("derivative(derivative(exp))(0.3)"), math.exp(0.3))
        close(it.eval("grad(derivative(grad(tanh)))(0.2)"),
              grad(grad(grad(P.tanh)))(0.2))

    def test_jacfwd_of_jacrev_and_hessian_closed_form(self, it):
        it.exec("fn f(v) { return sum(v ** 3) + v[0] * v[1] + sin(v[2]) }")
        v = np.array([1.0, -2.0, 0.5])
        want = np.diag(6 * v)
        want[0, 1] = want[1, 0] = 1.0
        want[2, 2] -= math.sin(0.5)
        close(it.eval("jacfwd(jacrev(f))([1.0, -2.0, 0.5])"), want)
        close(it.eval("hessian(f)([1.0, -2.0, 0.5])"), want)
        close(it.eval("jacrev(jacfwd(f))([1.0, -2.0, 0.5])"), want)
        close(it.eval("jacrev(jacrev(f))([1.0, -2.0, 0.5])"), want)
        close(it.eval("jacfwd(jacfwd(f))([1.0, -2.0, 0.5])"), want)

    def test_hessian_of_matrix_input(self):
        # f(X) = sum(X @ X): H[i,j,k,l] = d^2 f / dX_ij dX_kl
        X = np.array([[1.0, 2.0], [3.0, 4.0]])
        H = jacfwd_call(lambda y: jacrev_call(lambda x: P.sum_(P.matmul(x, x)), y), X)
        assert np.shape(H) == (2, 2, 2, 2)
        # against central differences of the gradient
        g = lambda x: jacrev_call(lambda z: P.sum_(P.matmul(z, z)), x)  # noqa: E731
        h = 1e-6
        num = np.zeros((2, 2, 2, 2))
        for k in range(2):
            for m in range(2):
                e = np.zeros((2, 2))
                e[k, m] = h
                num[:, :, k, m] = (g(X + e) - g(X - e)) / (2 * h)
        close(H, num, 1e-6)
        # f = sum_m colsum_m * rowsum_m, so df/dX_ab = rowsum_b + colsum_a and
        # H[a, b, k, l] = [k == b] + [l == a]
        eye = np.eye(2)
        close(H, eye[None, :, :, None] + eye[:, None, None, :])

    def test_hvp_matches_hessian_times_v(self, it):
        it.exec("fn f(v) { return sum(exp(v) * v[0]) + prod(v) }")
        x = [0.3, -0.2, 0.5]
        v = [1.0, 2.0, -1.0]
        H = it.eval(f"hessian(f)({x})")
        hv = it.eval(f"hvp(f, {x}, {v})")
        close(hv, H @ np.array(v), 1e-12)

    def test_jacobian_picks_a_mode_and_agrees(self, it):
        it.exec("fn f(v) { return [v[0] * v[1], sin(v[0]), v[1] ** 2] }")
        a = it.eval("jacobian(f)([1.0, 2.0])")
        close(a, it.eval("jacfwd(f)([1.0, 2.0])"))
        close(a, it.eval("jacrev(f)([1.0, 2.0])"))
        close(a, [[2.0, 1.0], [math.cos(1.0), 0.0], [0.0, 4.0]])
        it.exec("fn g(v) { return sum(v * v) }")
        close(it.eval("jacobian(g)([1.0, 2.0, 3.0])"), [2.0, 4.0, 6.0])

    def test_jacfwd_is_one_batched_evaluation(self, it):
        it.exec("let calls = 0\nfn f(v) { calls += 1; return v * v }")
        close(it.eval("jacfwd(f)([1.0, 2.0, 3.0, 4.0])"), np.diag([2.0, 4.0, 6.0, 8.0]))
        assert it.eval("calls") == 1

    def test_jacfwd_identity_basis_skips_the_product_with_the_same_result(self):
        # matmul's rule recognises jacfwd's identity basis (A @ x -> A^T, no product):
        # the Jacobians equal those of a plain eye(n) basis bit for bit
        rng = np.random.default_rng(3)
        A, B = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
        a, x = rng.standard_normal(4), rng.standard_normal(4)
        fs = [lambda v: P.matmul(A, v), lambda v: P.matmul(v, B), lambda v: P.matmul(a, v),
              lambda v: P.matmul(v, a), lambda v: P.matmul(v, v),
              lambda v: P.exp(P.matmul(A, P.sin(v))),  # a tangent that is not the basis
              lambda v: P.matmul(P.reshape(v, (2, 2)), B[:2])]
        for f in fs:
            J = jacfwd_call(f, x)
            _, t = jvp_call(f, (x,), (np.eye(4),), batch=4)
            np.testing.assert_array_equal(J, np.moveaxis(t, 0, -1))
        assert P.is_identity_basis(P.identity_basis(4, (4,)))
        assert not P.is_identity_basis(np.eye(4))
        # exact where a product with the identity would make 0 * inf = nan
        A[1, 2] = np.inf
        np.testing.assert_array_equal(jacfwd_call(lambda v: P.matmul(A, v), x), A)

    def test_hessian_of_a_logistic_loss_is_exact_and_symmetric(self):
        # bench W4's function: H = A^T diag(s (1 - s)) A + I
        rng = np.random.default_rng(0)
        A, x = rng.standard_normal((30, 12)), rng.standard_normal(12)

        def f(v):
            return P.add(P.sum_(P.log(P.add(1, P.exp(P.matmul(A, v))))),
                         P.mul(0.5, P.matmul(v, v)))

        H = jacfwd_call(lambda y: jacrev_call(f, y), x)
        s = 1 / (1 + np.exp(-(A @ x)))
        close(H, (A.T * (s * (1 - s))) @ A + np.eye(12), 1e-13)
        np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-13)


# ====================================================================== trees
class TestTreesAndArgnums:
    def test_record_and_tuple_gradients_keep_structure(self, it):
        it.exec("fn loss(p, x) { return sum((p.w * x + p.b[0]) ** 2) + p.b[1] * 3.0 + "
                "p.n.c[0] * p.n.c[1] }")
        g = it.eval("grad(loss)({w: [1.0, 2.0], b: (0.5, 2), n: {c: (2.0, 5.0)}}, [1.0, 1.0])")
        assert set(g) == {"w", "b", "n"}
        close(g["w"], [2 * 1.5, 2 * 2.5])
        assert isinstance(g["b"], tuple) and len(g["b"]) == 2
        close(g["b"][0], 2 * 1.5 + 2 * 2.5)
        assert g["b"][1] == 3.0 and type(g["b"][1]) is float  # int leaf promoted
        assert g["n"]["c"] == (5.0, 2.0)

    def test_argnums_int_and_tuple(self, it):
        it.exec("fn f(a, b, c) { return a * b * b + c }")
        assert it.eval("grad(f)(2.0, 3.0, 1.0)") == 9.0
        assert it.eval("grad(f, argnums=1)(2.0, 3.0, 1.0)") == 12.0
        assert it.eval("grad(f, argnums=-1)(2.0, 3.0, 1.0)") == 1.0
        assert it.eval("grad(f, argnums=(0, 2))(2.0, 3.0, 1.0)") == (9.0, 1.0)
        assert it.eval("grad(f, argnums=(1,))(2.0, 3.0, 1.0)") == (12.0,)
        assert it.eval("value_and_grad(f, argnums=(0, 1))(2.0, 3.0, 1.0)") == (19.0, (9.0, 12.0))
        with pytest.raises(dprog.DpDifferentiationError, match="argnums=3"):
            it.eval("grad(f, argnums=3)(2.0, 3.0, 1.0)")

    def test_tree_argument_with_argnums_tuple(self, it):
        it.exec("fn f(p, s) { return p[0] * s.k + p[1][0] }")
        g = it.eval("grad(f, argnums=(0, 1))((2.0, (1.0,)), {k: 4.0})")
        assert g == ((4.0, (1.0,)), {"k": 2.0})

    def test_jvp_and_vjp_on_trees(self, it):
        y, t = it.eval("jvp(fn(p) => p.a * p.b, ({a: 2.0, b: 3.0},), ({a: 1.0, b: 0.0},))")
        assert (y, t) == (6.0, 3.0)
        it.exec("let r = vjp(fn(p, x) => p[0] * x + p[1], (2.0, 1.0), 5.0)")
        assert it.eval("r[0]") == 11.0
        assert it.eval("r[1](1.0)") == ((5.0, 1.0), 2.0)

    def test_jacobians_of_tree_inputs_follow_jax(self, it):
        # each leaf of the result has shape out.shape + in_leaf.shape (jax.jacobian)
        it.exec("fn f(p) { return p.a * p.b }\nlet p0 = {a: [1.0, 2.0], b: 3.0}")
        for op in ("jacfwd", "jacrev", "jacobian"):
            j = it.eval(f"{op}(f)(p0)")
            close(j["a"], 3.0 * np.eye(2))
            close(j["b"], [1.0, 2.0])

    def test_jacobians_of_tree_outputs(self, it):
        for op in ("jacfwd", "jacrev", "jacobian"):
            ja, jb = it.eval(f"{op}(fn(x) => (x * 2, sum(x ** 2)))([1.0, 2.0])")
            close(ja, 2.0 * np.eye(2))
            close(jb, [2.0, 4.0])

    def test_hessian_of_a_tree_is_a_tree_of_trees(self, it):
        h = it.eval("hessian(fn(p) => p[0] ** 2 * p[1])((1.0, 2.0))")
        assert h == ((4.0, 2.0), (2.0, 0.0))
        h = it.eval("hessian(fn(p) => sum(p.w ** 2) * p.b)({w: [1.0, 2.0], b: 3.0})")
        close(h["w"]["w"], 6.0 * np.eye(2))
        close(h["w"]["b"], [2.0, 4.0])
        close(h["b"]["w"], [2.0, 4.0])
        assert h["b"]["b"] == 0.0

    def test_tree_jacobian_inside_grad(self, it):
        # d/dx sum(d(p.a * p.b)/d p.a) with p.b = x: sum(x * I) = 2x -> 2
        assert it.eval("grad(fn(x) => sum(jacobian(fn(p) => p.a * p.b)"
                       "({a: [x, 2.0], b: x}).a))(3.0)") == 2.0

    def test_derivative_passes_extra_arguments(self, it):
        assert it.eval("derivative(fn(x, k) => x * k)(2.0, 3.0)") == 3.0
        assert it.eval("derivative(fn(x, k=1) => x * k)(2.0, k=5.0)") == 5.0

    def test_pullback_arity_is_an_argument_error(self, it):
        it.exec("let o, pb = vjp(fn(x) => x, 1.0)")
        with pytest.raises(dprog.DpArgumentError):
            it.eval("pb()")
        with pytest.raises(dprog.DpArgumentError):
            it.eval("pb(1.0, 2.0)")

    def test_custom_vjp_with_a_record_output(self, it):
        it.exec("fn f(x, y) { return {s: x * y, d: x - y} }\n"
                "let h = custom_vjp(f, fn(x, y) => (f(x, y), (x, y)),"
                " fn(r, g) => (g.s * r[1] + g.d, g.s * r[0] - g.d))")
        assert it.eval("grad(fn(a) => h(a, 3.0).s)(2.0)") == 3.0
        assert it.eval("grad(fn(a, b) => h(a, b).s + 2 * h(a, b).d, argnums=(0, 1))"
                       "(2.0, 3.0)") == (5.0, 0.0)
        # a cotangent record with its fields in another order is the same record
        it.exec("let o, pb = vjp(fn(a) => h(a, 3.0), 2.0)")
        assert it.eval("pb({d: 1.0, s: 0.0})") == (1.0,)

    def test_custom_jvp_with_a_tuple_output_in_reverse_mode(self, it):
        it.exec("let cj = custom_jvp(fn(x) => (x * 2, x * x), fn(p, t) => "
                "((p[0] * 2, p[0] * p[0]), (2 * t[0], 2 * p[0] * t[0])))")
        assert it.eval("grad(fn(x) => cj(x)[0] + cj(x)[1])(3.0)") == 8.0
        assert it.eval("jacrev(cj)(3.0)") == (2.0, 6.0)

    def test_jacobians_take_argnums_and_keywords(self, it):
        it.exec("fn f(x, k=2.0) { return k * x ** 2 }")
        assert it.eval("(hessian(f)(1.0, k=4.0), jacfwd(f)(1.0, k=3.0), "
                       "jacrev(f)(1.0, k=3.0), checkpoint(f)(2.0, k=3.0))") == (8.0, 6.0, 6.0,
                                                                               12.0)
        assert it.eval("jacfwd(fn(a, b) => a * b ** 2, argnums=1)(2.0, 3.0)") == 12.0
        assert it.eval("hessian(fn(a, b) => a * b ** 2, argnums=(0, 1))(2.0, 3.0)") == \
            ((0.0, 6.0), (6.0, 4.0))
        ja, jb = it.eval("jacobian(fn(a, b) => a * b, argnums=(0, 1))([1.0, 2.0], 3.0)")
        close(ja, 3.0 * np.eye(2))
        close(jb, [1.0, 2.0])

    def test_grad_of_det_at_singular_matrices_is_the_cofactor_matrix(self, it):
        close(it.eval("grad(det)([[1.0, 2.0], [2.0, 4.0]])"), [[4.0, -2.0], [-2.0, 1.0]])
        close(it.eval("grad(det)([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])"),
              [[-3.0, 6.0, -3.0], [6.0, -12.0, 6.0], [-3.0, 6.0, -3.0]])
        close(it.eval("grad(det)(zeros(3, 3))"), np.zeros((3, 3)))
        close(it.eval("jacfwd(det)([[1.0, 2.0], [2.0, 4.0]])"), [[4.0, -2.0], [-2.0, 1.0]])

    def test_hessian_of_prod_is_exact_at_zeros(self, it):
        # d2 prod / dx_i dx_j = product of the entries other than i and j (as JAX)
        close(it.eval("hessian(prod)([0.0, 2.0, 3.0])"), [[0, 3, 2], [3, 0, 0], [2, 0, 0]])
        close(it.eval("hessian(prod)([0.0, 0.0, 3.0])"), [[0, 3, 0], [3, 0, 0], [0, 0, 0]])
        close(it.eval("hessian(prod)([1.0, 2.0, 3.0])"), [[0, 3, 2], [3, 0, 1], [2, 1, 0]])
        close(it.eval("grad(fn(x) => grad(prod)(x)[1])([0.0, 2.0, 3.0])"), [3.0, 0.0, 0.0])
        h = it.eval("hessian(fn(x) => sum(prod(x, axis=1) * [1.0, 2.0]))([[0.0, 2.0], [3.0, 0.0]])")
        close(h[0, 0], [[0, 1], [0, 0]])
        close(h[1, 1], [[0, 0], [2, 0]])

    def test_hessian_of_a_tree_valued_function(self, it):
        assert it.eval("hessian(fn(x) => (x * x, x))(1.0)") == (2.0, 0.0)

    def test_custom_vjp_cotangent_shapes_are_checked(self, it):
        it.exec("let f = custom_vjp(fn(x) => x * 2, fn(x) => (x * 2, x), fn(r, g) => (ones(5),))")
        with pytest.raises(dprog.DpDifferentiationError, match="shape"):
            it.eval("grad(f)(1.0)")

    def test_python_level_trees(self):
        from dprog.core.values import Record

        p = Record({"w": np.array([1.0, 2.0]), "b": (3.0, np.array([1.0]))})

        def f(p):
            return P.add(P.sum_(P.mul(p.get("w"), p.get("w"))),
                         P.mul(p.get("b")[0], P.sum_(p.get("b")[1])))
        g = grad(f)(p)
        close(g.get("w"), [2.0, 4.0])
        assert g.get("b")[0] == 1.0
        close(g.get("b")[1], [3.0])


# ================================================================ checkpoint
def _chain(x):
    for _ in range(20):
        x = P.sin(P.mul(x, 1.1))
    return x


class TestCheckpoint:
    def test_same_gradient(self, it):
        it.exec("fn f(x) { let y = x\n for i in range(10) { y = sin(y) * 1.1 + x }\n return y }")
        a = it.eval("grad(f)(0.4)")
        b = it.eval("grad(checkpoint(f))(0.4)")
        assert a == pytest.approx(b, rel=1e-14)
        close(it.eval("grad(fn(x) => checkpoint(f)(x) * f(x))(0.3)"),
              it.eval("grad(fn(x) => f(x) * f(x))(0.3)"))
        # forward mode and nesting go through the function itself
        assert it.eval("derivative(checkpoint(f))(0.4)") == pytest.approx(a, rel=1e-12)
        close(it.eval("grad(grad(checkpoint(f)))(0.4)"), it.eval("grad(grad(f))(0.4)"))

    def test_tape_stores_fewer_nodes(self):
        plain = Tape()
        x = plain.leaf(0.5)
        y_plain = _chain(x)
        ckpt = Tape()
        x2 = ckpt.leaf(0.5)
        y_ckpt = call_checkpoint(_chain, (x2,))
        assert len(plain) == 41  # the leaf and two nodes per step
        assert len(ckpt) == 2  # the leaf and one node for the whole call
        g_plain = plain.backward([(y_plain.idx, 1.0)])[x.idx]
        g_ckpt = ckpt.backward([(y_ckpt.idx, 1.0)])[x2.idx]
        assert g_ckpt == pytest.approx(g_plain, rel=1e-14)

    def test_array_and_several_arguments(self, it):
        it.exec("fn f(a, b) { return sum(tanh(a * b) ** 2) }")
        g1 = it.eval("grad(f, argnums=(0, 1))([0.1, 0.2], [1.0, -2.0])")
        g2 = it.eval("grad(checkpoint(f), argnums=(0, 1))([0.1, 0.2], [1.0, -2.0])")
        close(g1[0], g2[0])
        close(g1[1], g2[1])


# ============================================================ custom rules
class TestCustomRules:
    SRC = """
fn f(x) { return x * x }
# a deliberately different rule (3 instead of 2x) shows which rule ran
let cv = custom_vjp(f, fn(x) => (f(x), x), fn(res, g) => (3.0 * g,))
let cj = custom_jvp(f, fn(p, t) => (f(p[0]), 3.0 * t[0]))
# a correct rule that depends on the primal, for higher order
let s = custom_jvp(fn(x) => sin(x), fn(p, t) => (sin(p[0]), cos(p[0]) * t[0]))
let sv = custom_vjp(fn(x) => sin(x), fn(x) => (sin(x), x), fn(x, g) => (cos(x) * g,))
"""

    def test_custom_vjp_in_reverse_mode(self, it):
        it.exec(self.SRC)
        assert it.eval("cv(2.0)") == 4.0
        assert it.eval("grad(cv)(2.0)") == 3.0
        assert it.eval("vjp(cv, 2.0)[1](2.0)") == (6.0,)
        assert it.eval("grad(fn(x) => cv(x * 2.0))(1.0)") == 6.0

    def test_custom_vjp_in_forward_mode_uses_f(self, it):
        it.exec(self.SRC)
        assert it.eval("derivative(cv)(2.0)") == 4.0
        close(it.eval("grad(grad(sv))(0.5)"), -math.sin(0.5))
        close(it.eval("derivative(grad(sv))(0.5)"), -math.sin(0.5))

    def test_custom_jvp_in_forward_mode(self, it):
        it.exec(self.SRC)
        assert it.eval("derivative(cj)(2.0)") == 3.0
        assert it.eval("jvp(cj, (2.0,), (2.0,))") == (4.0, 6.0)
        close(it.eval("jacfwd(fn(v) => cj(v[0]) + cj(v[1]))([1.0, 2.0])"), [3.0, 3.0])

    def test_custom_jvp_in_reverse_mode_linearises_the_rule(self, it):
        it.exec(self.SRC)
        assert it.eval("grad(cj)(2.0)") == 3.0
        assert it.eval("grad(fn(x) => cj(x) * x)(2.0)") == 3.0 * 2.0 + 4.0
        close(it.eval("grad(grad(s))(0.5)"), -math.sin(0.5))
        close(it.eval("derivative(grad(s))(0.5)"), -math.sin(0.5))
        close(it.eval("grad(derivative(s))(0.5)"), -math.sin(0.5))
        close(it.eval("hessian(fn(v) => s(v[0]) * v[1])([0.5, 2.0])"),
              [[-2 * math.sin(0.5), math.cos(0.5)], [math.cos(0.5), 0.0]])

    def test_python_level_custom_rules(self):
        def fwd(x):
            return P.mul(x, x), x

        def bwd(res, g):
            return (P.mul(g, 10.0),)
        f = lambda x: call_custom_vjp(lambda v: P.mul(v, v), fwd, bwd, (x,))  # noqa: E731
        assert grad(f)(2.0) == 10.0
        assert deriv(f)(2.0) == 4.0
        rule = lambda p, t: (P.exp(p[0]), P.mul(P.exp(p[0]), t[0]))  # noqa: E731
        e = lambda x: call_custom_jvp(P.exp, rule, (x,))  # noqa: E731
        close(grad(grad(e))(0.3), math.exp(0.3))
        close(deriv(grad(e))(0.3), math.exp(0.3))


class TestCheckGrad:
    def test_true_for_correct_derivatives(self, it):
        assert it.eval("check_grad(fn(x) => sum(sin(x) * x), [0.1, 0.5, -1.0])") is True
        assert it.eval("check_grad(fn(a, b) => a * exp(b), 1.5, 0.3)") is True
        assert it.eval("check_grad(fn(p) => p.w * p.w + p.b, {w: 2.0, b: 1.0})") is True

    def test_wrong_custom_vjp_names_the_worst_entry(self, it):
        it.exec("fn f(x) { return sum(x * x) }\n"
                "let wrong = custom_vjp(f, fn(x) => (f(x), x), "
                "fn(x, g) => (g * 2.0 * x * [1.0, 1.0, 1.5],))")
        with pytest.raises(dprog.DpDifferentiationError) as err:
            it.eval("check_grad(wrong, [1.0, 2.0, 3.0])")
        msg = str(err.value)
        assert "entry (2,)" in msg and "argument 1" in msg
        assert "reverse 9.0" in msg and "forward 6.0" in msg

    def test_wrong_custom_jvp_is_caught_too(self, it):
        it.exec("let wrong = custom_jvp(fn(x, y) => x * y, fn(p, t) => (p[0] * p[1], "
                "t[0] * p[1] + t[1] * p[1]))")
        with pytest.raises(dprog.DpDifferentiationError, match="argument 2"):
            it.eval("check_grad(wrong, 2.0, 5.0)")


# ====================================================================== edges
class TestEdges:
    @pytest.mark.parametrize("name, want", [("abs", [-1.0, 0.0, 1.0]), ("relu", [0.0, 0.0, 1.0]),
                                            ("sign", [0.0, 0.0, 0.0])])
    def test_kinks_have_derivative_zero_at_zero(self, it, name, want):
        assert it.eval(f"grad({name})(0.0)") == 0.0
        assert it.eval(f"derivative({name})(0.0)") == 0.0
        assert it.eval(f"grad({name})(0)") == 0.0
        close(it.eval(f"grad(fn(x) => sum({name}(x)))([-2.0, 0.0, 3.0])"), want)
        close(it.eval(f"derivative({name})([-2.0, 0.0, 3.0])"), want)
        close(it.eval(f"jacfwd({name})([-2.0, 0.0, 3.0])"), np.diag(want))
        close(it.eval(f"jacrev({name})([-2.0, 0.0, 3.0])"), np.diag(want))
        assert it.eval(f"grad(grad({name}))(0.0)") == 0.0

    def test_ties_split_equally(self, it):
        close(it.eval("grad(max)([1.0, 3.0, 3.0])"), [0.0, 0.5, 0.5])
        close(it.eval("grad(min)([2.0, 2.0, 2.0, 5.0])"), [1 / 3, 1 / 3, 1 / 3, 0.0])
        close(it.eval("grad(fn(x) => sum(max(x, axis=1)))([[1.0, 1.0], [0.0, 2.0]])"),
              [[0.5, 0.5], [0.0, 1.0]])
        close(it.eval("jvp(max, ([1.0, 3.0, 3.0],), ([0.0, 1.0, 0.0],))[1]"), 0.5)
        assert it.eval("grad(maximum, argnums=(0, 1))(2.0, 2.0)") == (0.5, 0.5)
        assert it.eval("grad(minimum, argnums=(0, 1))(2.0, 2.0)") == (0.5, 0.5)
        assert it.eval("grad(fn(x) => maximum(x, x))(2.0)") == 1.0
        assert it.eval("jvp(maximum, (2.0, 2.0), (1.0, 0.0))") == (2.0, 0.5)
        assert it.eval("jvp(minimum, (2.0, 2.0), (0.0, 1.0))") == (2.0, 0.5)
        g = it.eval("grad(fn(a, b) => sum(maximum(a, b)), argnums=(0, 1))([1.0, 2.0, 3.0], 2.0)")
        close(g[0], [0.0, 0.5, 1.0])
        assert g[1] == 1.5
        close(it.eval("grad(fn(x) => clip(x, 0.0, 1.0))(1.0)"), 0.5)

    @pytest.mark.parametrize("lo, hi", [(-5.0, 5.0), (-5, 5), (1.0, -1.0), (-0.5, 2.5),
                                        (3.0, 3.0), (0.0, 1.0), (-1.0, -0.0),
                                        (math.nan, 1.0)])
    def test_clip_in_one_pass_is_the_two_operations(self, lo, hi):
        # the one-pass path (xp.clip) must give the very floats of minimum(maximum(...)):
        # nan, signed zeros and ties included (0 and nan bounds take the operations)
        x = np.random.default_rng(3).standard_normal(200) * 8
        x[:9] = [math.nan, -0.0, 0.0, 5.0, -5.0, math.inf, -math.inf, 3.0, -0.5]
        one = P.clip(x, lo, hi)
        two = P.minimum(P.maximum(x, lo), hi)
        assert one.dtype == two.dtype and one.flags.writeable and one.base is None
        assert np.array_equal(one.view(np.int64), two.view(np.int64))

    @pytest.mark.parametrize("expr", [
        "where(x > 0, sqrt(x), 0.0)",
        "where(x > 0, log(x), 0.0)",
        "where(x > 0, x * log(x), 0.0)",
        "where(x != 0, 1.0 / x, 0.0)",
        "where(x != 0, sin(x) / x, 1.0)",
        "where(x > 0, x ** 0.5, 0.0)",
        "where(x <= 0, 0.0, sqrt(x))",
        "where(x > 0, asin(x - 1.0), 0.0)",
        "where(x > 0, exp(-1.0 / x), 0.0)",
        "where(x > 0, log(x) * log(x), 0.0)",
        "where(x > 0, sin(log(x)) * x, 0.0)",
    ])
    def test_untaken_branch_contributes_exactly_zero(self, it, expr):
        it.exec(f"fn f(x) {{ return {expr} }}")
        assert it.eval("grad(f)(0.0)") == 0.0
        assert it.eval("derivative(f)(0.0)") == 0.0
        assert it.eval("grad(grad(f))(0.0)") == 0.0
        assert it.eval("derivative(grad(f))(0.0)") == 0.0
        it.exec("fn fs(v) { return sum(f(v)) }")
        g = it.eval("grad(fs)([0.0, 0.5, 0.0])")
        assert g[0] == 0.0 and g[2] == 0.0 and np.isfinite(g[1])
        d = it.eval("derivative(f)([0.0, 0.5, 0.0])")
        assert d[0] == 0.0 and d[2] == 0.0 and d[1] == pytest.approx(g[1], rel=1e-14)
        # second order, all four ways (reverse-over-reverse meets the infinite partials
        # as cotangents of zero partials, not as partials of zero cotangents)
        for h in ("hessian(fs)", "jacrev(grad(fs))", "jacfwd(grad(fs))", "jacrev(jacrev(fs))"):
            H = it.eval(f"{h}([0.0, 0.5, 0.0])")
            assert np.all(np.isfinite(H)), (h, H)
            assert H[0, 0] == 0.0 and H[2, 2] == 0.0 and H[0, 1] == 0.0, (h, H)
        assert it.eval("grad(grad(grad(f)))(0.0)") == 0.0

    def test_the_spec_example(self, it):
        assert it.eval("grad(fn(x) => where(x > 0, sqrt(x), 0.0))(0.0)") == 0.0
        assert it.eval("grad(fn(x) => where(x > 0, sqrt(x), 0.0))(4.0)") == 0.25

    def test_zero_cotangent_stays_zero(self, it):
        # sqrt, log and 1/x have infinite derivatives at 0; a zero cotangent must not
        # turn into 0 * inf = nan
        assert it.eval("vjp(sqrt, 0.0)[1](0.0)") == (0.0,)
        assert it.eval("vjp(log, 0.0)[1](0.0)") == (0.0,)
        assert it.eval("vjp(fn(a, b) => a / b, 1.0, 0.0)[1](0.0)") == (0.0, 0.0)
        close(it.eval("vjp(sqrt, [0.0, 4.0])[1]([0.0, 1.0])")[0], [0.0, 0.25])
        assert it.eval("jvp(sqrt, (0.0,), (0.0,))") == (0.0, 0.0)
        assert it.eval("jvp(fn(x) => x ** 0.5, (0.0,), (0.0,))") == (0.0, 0.0)
        assert it.eval("grad(fn(x) => sqrt(x) * 0.0 + x)(0.0)") == 1.0
        assert it.eval("grad(fn(x) => stop_gradient(sqrt(x)) + x)(0.0)") == 1.0
        # with a zero cotangent only some entries of an array
        close(it.eval("grad(fn(x) => sum(log(x) * [0.0, 1.0]))([0.0, 2.0])"), [0.0, 0.5])

    def test_norm_gradient_is_zero_at_the_zero_vector(self, it):
        close(it.eval("grad(norm)([0.0, 0.0, 0.0])"), [0.0, 0.0, 0.0])
        close(it.eval("grad(norm)([3.0, 4.0])"), [0.6, 0.8])
        close(it.eval("derivative(norm)([0.0, 0.0])"), 0.0)
        close(it.eval("jacfwd(norm)([0.0, 0.0])"), [0.0, 0.0])
        close(it.eval("grad(fn(x) => sum(norm(x, axis=1)))([[0.0, 0.0], [3.0, 4.0]])"),
              [[0.0, 0.0], [0.6, 0.8]])
        assert np.all(np.isfinite(it.eval("hessian(norm)([0.0, 0.0])")))

    def test_plain_values_inside_differentiated_functions(self, it):
        it.exec("""
fn f(x) {
  print("x =", x, str(x), x > 1.0, (x, {a: x}), [x, 1.0] if x > 0 else 0)
  if x > 1.0 and x == x { return x * x * x }
  return x
}
""")
        for expr in ["grad(f)(2.0)", "grad(grad(f))(2.0)", "derivative(grad(f))(2.0)",
                     "grad(derivative(f))(2.0)", "grad(grad(grad(f)))(2.0)",
                     "jacfwd(fn(v) => f(v[0]))([2.0])", "hessian(fn(v) => f(v[0]))([2.0])",
                     "hvp(fn(v) => f(v[0]), [2.0], [1.0])",
                     "grad(checkpoint(f))(2.0)", "vjp(f, 2.0)[0]"]:
            it.out.seek(0)
            it.out.truncate()
            it.eval(expr)
            lines = it.out.getvalue().splitlines()
            assert lines and all(ln == "x = 2.0 2.0 true (2.0, {a: 2.0}) [2. 1.]"
                                 for ln in lines), (expr, lines)

    def test_indices_and_loops_see_plain_values(self, it):
        it.exec("fn f(v) { let s = 0.0\n for i in range(int(v[0])) { s += v[i] * v[1] }\n"
                " let k = argmax(v)\n return s + v[k] }")
        # v0 v1 + v1 v1 + v2 v1 + v2 (argmax is 2)
        close(it.eval("grad(f)([3.0, 1.0, 5.0])"), [1.0, 3.0 + 2.0 + 5.0, 1.0 + 1.0])

    def test_integer_inputs_are_promoted(self, it):
        for expr, want in [("grad(fn(x) => x * x)(3)", 6.0),
                           ("derivative(fn(x) => x ** 2)(3)", 6.0),
                           ("grad(fn(x) => x ** 3)(2)", 12.0),
                           ("grad(fn(x) => 1 / x)(2)", -0.25),
                           ("jacfwd(fn(x) => x * x)(3)", 6.0),
                           ("jacrev(fn(x) => x * x)(3)", 6.0),
                           ("hessian(fn(x) => x ** 3)(1)", 6.0),
                           ("grad(fn(x) => x // 2 + x % 2)(5)", 1.0)]:
            r = it.eval(expr)
            assert r == want and type(r) is float, (expr, r)
        assert it.eval("jvp(fn(x) => x * x, (3,), (1,))") == (9.0, 6.0)
        assert it.eval("value_and_grad(fn(x) => x * x)(3)") == (9.0, 6.0)
        assert it.eval("grad(fn(p) => p[0] * p[1], argnums=0)((2, 3))") == (3.0, 2.0)
        g = value_and_grad_call(lambda x: P.sum_(P.mul(x, x)), (np.array([1, 2]),), {}, 0)[1]
        assert g.dtype == np.float64 and g.tolist() == [2.0, 4.0]


# ==================================================================== check-nans
class TestCheckNans:
    def test_forward_pass(self, it):
        src = "fn f(x) {\n  return log(x)\n}\nprint(f(-1.0))\n"
        assert run(src).strip() == "nan"  # off: the nan just flows
        with pytest.raises(dprog.DpError) as err:
            run(src, check_nans=True)
        e = err.value
        assert "`log` produced nan" in e.message and "forward pass" in e.message
        assert e.line == 2
        assert any("in f" in s for s in e.dprog_stack)

    # sqrt(x) - sqrt(x) at 0: the value is 0, the tangents / cotangents are inf - inf
    SRC = "fn f(x) {\n  let y = sqrt(x)\n  return y - sqrt(x)\n}\nprint(%s(f)(0.0))\n"

    def test_tangent_pass(self):
        src = self.SRC % "derivative"
        assert run(src).strip() == "nan"
        with pytest.raises(dprog.DpError) as err:
            run(src, check_nans=True)
        assert "`+` produced nan" in err.value.message  # adding the two tangents
        assert "tangent pass" in err.value.message
        assert err.value.line == 3

    def test_backward_pass(self):
        src = self.SRC % "grad"
        assert run(src).strip() == "nan"
        with pytest.raises(dprog.DpError) as err:
            run(src, check_nans=True)
        # the second cotangent reaching x (from the first sqrt) makes inf - inf: the
        # report names that call and points at it, inside f, not at the grad call
        assert "derivative of `sqrt` produced nan" in err.value.message
        assert "backward pass" in err.value.message
        assert (err.value.line, err.value.column) == (2, 11)
        assert [name for _, name in err.value.stack] == ["<main>", "f"][::-1]

    def test_nan_inputs_and_untaken_branches_are_not_errors(self):
        src = ("let y = nan\nprint(y + 1)\n"
               "print(grad(fn(x) => where(x > 0, sqrt(x), 0.0))(0.0))\n"
               "print(grad(fn(x) => sum(where(x > 0, log(x), 0.0)))([0.0, 2.0]))\n"
               "print(grad(norm)([0.0, 0.0]))\n")
        assert run(src, check_nans=True) == "nan\n0.0\n[0.  0.5]\n[0. 0.]\n"

    def test_cli_flag(self, tmp_path):
        p = tmp_path / "n.dp"
        p.write_text("fn f(x) {\n  return 0.0 * log(x)\n}\nprint(f(-2.0))\n")
        r = run_dp(str(p))
        assert r.returncode == 0 and r.stdout.strip() == "nan"
        r = run_dp("--check-nans", str(p))
        assert r.returncode == 1
        assert "`log` produced nan" in r.stderr and "forward pass" in r.stderr
        assert "n.dp:2" in r.stderr


# ====================================================================== errors
class TestErrors:
    def test_grad_of_non_scalar_output(self, it):
        with pytest.raises(dprog.DpDifferentiationError) as err:
            it.eval("grad(fn(x) => x * 2.0)([1.0, 2.0])")
        msg = err.value.report()
        assert "(2,)" in msg and "jacobian" in msg and "vjp" in msg
        with pytest.raises(dprog.DpDifferentiationError, match="a tuple"):
            it.eval("grad(fn(x) => (x, x))(1.0)")

    @pytest.mark.parametrize("call, kind, which", [
        ('grad(fn(x, s) => x, argnums=1)(1.0, "a")', "a string", "argument 2"),
        ("grad(fn(f) => 2.0)(fn(x) => x)", "a function", "argument 1"),
        ("grad(fn(x, b) => x, argnums=(0, 1))(1.0, true)", "a bool", "argument 2"),
        ("grad(fn(p) => p[0])((1.0, true))", "a bool", "argument 1"),
        ('value_and_grad(fn(x) => 1.0)("s")', "a string", "argument 1"),
        ('jvp(fn(x) => x, ("s",), ("t",))', "a string", "primal 1"),
        ("vjp(fn(a, b) => a, 1.0, true)", "a bool", "argument 2"),
        ("jacfwd(fn(x) => x)(true)", "a bool", "jacfwd"),
        ("jacrev(fn(x) => x)(sin)", "a function", "jacrev"),
        ('hessian(fn(x) => 1.0)("s")', "a string", "hessian"),
        ('derivative(fn(x) => x)("s")', "a string", "derivative"),
        ("check_grad(fn(x) => 1.0, true)", "a bool", "argument 1"),
    ])
    def test_differentiating_wrt_a_non_number(self, it, call, kind, which):
        with pytest.raises(dprog.DpTypeError) as err:
            it.eval(call)
        msg = err.value.message
        assert kind in msg and which in msg, msg

    def test_shape_error_inside_differentiated_function(self):
        src = ("fn loss(w) {\n"
               "  let a = w * 2.0\n"
               "  let b = [1.0, 2.0, 3.0, 4.0]\n"
               "  return sum(a + b)\n"
               "}\n"
               "fn outer(w) {\n"
               "  return grad(loss)(w)\n"
               "}\n"
               "print(outer([1.0, 2.0, 3.0]))\n")
        with pytest.raises(dprog.DpShapeError) as err:
            run(src)
        e = err.value
        assert "(3,) and (4,)" in e.message
        assert (e.line, e.column) == (4, 14)
        assert e.dprog_stack == ["t.dp:9:7 in <main>", "t.dp:7:10 in outer",
                                 "t.dp:4:14 in loss"]
        report = e.report()
        assert "t.dp:4:14" in report and "return sum(a + b)" in report
        for transform in ("derivative(loss)", "jacfwd(fn(w) => sum(w) * loss(w))",
                          "hessian(loss)", "(fn(w) => hvp(loss, w, w))"):
            with pytest.raises(dprog.DpShapeError) as err:
                run(src.replace("grad(loss)", transform))
            assert err.value.line == 4
            assert err.value.dprog_stack[-1] == "t.dp:4:14 in loss"


# ============================================================ rule regressions
class TestRuleRegressions:
    """One test per bug the property tests found in the rules."""

    def test_registry_names_are_unique(self):
        # unary `-`, `*`-safe and `/`-safe used to overwrite `-`, `*` and `/` in REGISTRY
        assert P.REGISTRY["neg"] is P.neg_p and P.REGISTRY["-"] is P.sub_p
        assert P.REGISTRY["*"] is P.mul_p and P.REGISTRY["safe_mul"] is P.safe_mul_p
        assert P.REGISTRY["/"] is P.div_p and P.REGISTRY["safe_div"] is P.safe_div_p

    def test_safe_mul_of_a_large_broadcast_equals_the_careful_product(self):
        # a product over 4096 entries tests its small factor instead of the product
        big = np.linspace(-2.0, 2.0, 100 * 50).reshape(100, 50)
        big[3, 4], big[5, 6], big[7, 0] = np.inf, np.nan, 0.0
        for small in (np.linspace(0.5, 1.5, 50), np.r_[0.0, np.ones(49)], np.ones(50),
                      np.r_[np.inf, np.ones(49)], np.r_[np.nan, np.ones(49)]):
            for g, d in ((big, small), (small, big), (big, small[:, None][:1])):
                with np.errstate(invalid="ignore"):  # (inf * 0, on purpose)
                    fast, ref = P.safe_mul(g, d), _safe_mul_np(g, d)
                np.testing.assert_array_equal(fast, ref)
                assert fast[7, 0] == 0.0  # 0 * inf is 0

    def test_tangent_of_broadcast_operand_has_the_output_shape(self, it):
        # x + zeros((2, 3)) with x (3,): the tangent was left (3,), so sum counted it once
        t = np.ones(3)
        for op in (lambda x: P.add(x, np.zeros((2, 3))),
                   lambda x: P.sub(np.zeros((2, 3)), x),
                   lambda x: P.mod(P.add(x, 0.25), np.full((2, 3), 7.0)),
                   lambda x: P.where(np.ones((2, 3)) > 0, x, 0.0),
                   lambda x: P.where(True, x, np.zeros((2, 3)))):
            y, jt = jvp_call(lambda x: P.sum_(op(x)), (np.ones(3),), (t,))
            assert abs(jt) == 6.0
            _, tt = jvp_call(op, (np.ones(3),), (t,))
            assert np.shape(tt) == (2, 3)
        assert it.eval("jvp(fn(x) => sum(x + zeros(2, 3)), ([1.0, 2.0, 3.0],), "
                       "([1.0, 1.0, 1.0],))") == (12.0, 6.0)
        assert it.eval("derivative(fn(x) => sum(where([[true], [false]], x, 0.0)))(1.0)") == 1.0

    def test_index_update_with_a_scalar_into_a_region_under_jacfwd(self, it):
        # batched tangent of a scalar value stored into a (1,) region
        it.exec("fn f(x) { let v = zeros(2)\n v[0:1] = x[0] * x[1]\n return sum(v * v) }")
        H = it.eval("hessian(f)([1.0, 2.0])")
        close(H, [[2 * 4.0, 4 * 1.0 * 2.0], [4 * 1.0 * 2.0, 2 * 1.0]])
        y, t = jvp_call(lambda x, v: P.setitem(x, (slice(None),), v),
                           (np.zeros(1), 2.0), (np.ones((3, 1)), np.arange(3.0)), batch=3)
        close(t, [[0.0], [1.0], [2.0]])

    @pytest.mark.parametrize("sa, sb", [((2, 3, 4), (4,)), ((4,), (2, 4, 3)),
                                        ((3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)),
                                        ((1, 3, 4), (2, 4, 2))])
    def test_matmul_of_stacks_and_vectors(self, sa, sb):
        rng = np.random.default_rng(0)
        a, b = rng.normal(size=sa), rng.normal(size=sb)
        c = rng.normal(size=np.matmul(a, b).shape)
        f = lambda a, b: P.sum_(P.mul(c, P.matmul(a, b)))  # noqa: E731
        ga, gb = grad(f, (0, 1))(a, b)
        h = 1e-6
        for g, x, k in ((ga, a, 0), (gb, b, 1)):
            assert np.shape(g) == np.shape(x)
            e = np.zeros(x.size)
            e[x.size // 2] = h
            e = e.reshape(x.shape)
            args = [a, b]
            args[k] = x + e
            fp = f(*args)
            args[k] = x - e
            fm = f(*args)
            assert (fp - fm) / (2 * h) == pytest.approx(g.reshape(-1)[x.size // 2], rel=1e-6)
        # batched forward over the matmul rules (jacfwd / hessian)
        J = jacfwd_call(lambda a_: P.matmul(a_, b), a)
        assert np.shape(J) == np.matmul(a, b).shape + a.shape
        Jr = jacrev_call(lambda a_: P.matmul(a_, b), a)
        close(J, Jr, 1e-12)
        J = jacfwd_call(lambda b_: P.matmul(a, b_), b)
        close(J, jacrev_call(lambda b_: P.matmul(a, b_), b), 1e-12)

    def test_nondiff_binary_operator_on_traced_values(self, it):
        # `//` took the plain-number path with a tracer and failed with a type error
        assert it.eval("grad(fn(x) => x // 2.0 + x)(3.0)") == 1.0
        assert it.eval("derivative(fn(x) => x // 2.0 * x)(3.0)") == 1.0
        close(it.eval("grad(fn(x) => sum(x // 2.0 + x))([3.0, 4.0])"), [1.0, 1.0])

    def test_pow_at_exponent_zero_and_traced_exponent(self, it):
        # d/dx x ** 0 at x = 0 was 0 * 0 ** -1 = nan; a traced exponent equal to 2 lost
        # its mixed partial derivative to the `x ** 2 -> 2x` shortcut
        assert it.eval("grad(fn(x) => x ** 0)(0.0)") == 0.0
        assert it.eval("derivative(fn(x) => x ** 0.0)(0.0)") == 0.0
        close(it.eval("grad(fn(x) => sum(x ** [0.0, 1.0, 2.0]))([0.0, 0.0, 0.0])"),
              [0.0, 1.0, 0.0])
        H = it.eval("hessian(fn(v) => v[0] ** v[1])([3.0, 2.0])")
        close(H, [[2.0, 3 + 6 * math.log(3)], [3 + 6 * math.log(3), 9 * math.log(3) ** 2]],
              1e-12)
        assert it.eval("grad(fn(y) => grad(fn(x) => x ** y)(3.0))(0.0)") == pytest.approx(1 / 3)

    def test_prod_over_a_tuple_of_axes(self, it):
        g = it.eval("grad(fn(x) => sum(prod(x, axis=(0, 2))))(reshape(arange(1, 9), (2, 2, 2)))")
        x = np.arange(1.0, 9.0).reshape(2, 2, 2)
        p = np.prod(x, axis=(0, 2), keepdims=True)
        close(g, p / x)
        close(it.eval("grad(fn(x) => prod(x, axis=(0, 1)))([[1.0, 2.0], [3.0, 4.0]])"),
              [[24.0, 12.0], [8.0, 6.0]])

    def test_grad_of_one_element_array_output(self, it):
        # the seed cotangent was a number for a (1,)-shaped output
        assert it.eval("grad(fn(x) => stack((x,)))(2.0)") == 1.0
        assert it.eval("grad(fn(x) => reshape(x, (1, 1)) * 3.0)(2.0)") == 3.0
        assert it.eval("value_and_grad(fn(x) => x[0:1] * x[1:2])([2.0, 5.0])") == \
            (10.0, pytest.approx(np.array([5.0, 2.0])))

    def test_reduction_of_a_number(self, it):
        # max/min of a plain number under grad (the tie mask was a NumPy scalar)
        assert it.eval("grad(max)(0.0)") == 1.0
        assert it.eval("grad(fn(x) => min(x) * 2.0)(3.0)") == 2.0
        assert it.eval("derivative(max)(1.0)") == 1.0

    def test_jacobians_of_empty_results(self, it):
        # jacrev stacked zero rows and failed; every Jacobian of an empty result is empty
        for t in ("jacrev", "jacfwd", "jacobian"):
            J = it.eval(f"{t}(fn(x) => x[0:0])([1.0, 2.0])")
            assert J.shape == (0, 2), t
            assert it.eval(f"{t}(fn(x) => x * 2.0)(zeros(0))").shape == (0, 0), t
