import math


def test_adam_trajectory_matches_torch_adam():
    import torch

    from course_utils.reference import adam_trajectory

    H = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    x0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    path, v = adam_trajectory(lambda x: H @ x, x0, 0.1, 50, betas=(0.8, 0.99), eps=1e-3)
    x = torch.nn.Parameter(x0.clone())
    opt = torch.optim.Adam([x], lr=0.1, betas=(0.8, 0.99), eps=1e-3)
    for k in range(50):
        x.grad = H @ x.detach()
        opt.step()
        assert torch.allclose(path[k + 1], x.detach(), rtol=1e-12, atol=1e-14)
    assert torch.allclose(v[-1], opt.state[x]["exp_avg_sq"], rtol=1e-12, atol=1e-14)
    assert path.shape == v.shape == (51, 2)
    assert torch.equal(v[0], torch.zeros(2, dtype=torch.float64))


def test_tikhonov_lambda_gradient_matches_a_dense_solve_and_finite_differences():
    import torch

    from course_utils.reference import tikhonov_lambda_gradient

    gen = torch.Generator().manual_seed(0)
    M = torch.randn(7, 5, generator=gen, dtype=torch.float64)  # A: R^5 -> R^7, on rows (1, 5)
    y = torch.randn(1, 7, generator=gen, dtype=torch.float64)
    x = torch.randn(1, 5, generator=gen, dtype=torch.float64)
    lam = 0.3

    def solve(lam):
        return torch.linalg.solve(M.T @ M + lam * torch.eye(5, dtype=torch.float64), M.T @ y[0])

    x_hat = solve(lam)[None]
    grad = tikhonov_lambda_gradient(x_hat, x_hat - x, lam, lambda v: v @ M.T, lambda w: w @ M)
    u = torch.linalg.solve(M.T @ M + lam * torch.eye(5, dtype=torch.float64), (x_hat - x)[0])
    assert torch.allclose(grad, -(u * x_hat[0]).sum(), rtol=1e-10, atol=0)

    def loss(lam):
        return 0.5 * (solve(lam) - x[0]).pow(2).sum()

    eps = 1e-6  # central difference of L(lam) = 0.5 ||x_hat(lam) - x||^2
    fd = (loss(lam + eps) - loss(lam - eps)) / (2 * eps)
    assert abs(grad.item() - fd.item()) < 1e-7 * abs(fd.item())


def test_mlp_weight_gradients_match_autograd_and_the_planted_mistakes_do_not():
    import torch

    from course_utils.reference import mlp_weight_gradients

    gen = torch.Generator().manual_seed(0)
    shapes = [(5, 3), (5, 5), (5, 5), (4, 5)]
    weights = [torch.randn(*s, generator=gen, dtype=torch.float64) / s[1] ** 0.5 for s in shapes]
    x = torch.randn(3, generator=gen, dtype=torch.float64)
    b = torch.randn(4, generator=gen, dtype=torch.float64)
    ws = [w.clone().requires_grad_() for w in weights]
    h = x
    for w in ws:
        h = torch.tanh(w @ h)
    expected = torch.autograd.grad(0.5 * ((h - b) ** 2).sum(), ws)
    grads = mlp_weight_gradients(weights, x, b)
    assert len(grads) == 4
    for g, e in zip(grads, expected, strict=True):
        assert g.shape == e.shape and torch.allclose(g, e, rtol=1e-12, atol=1e-14)
    square = weights[1:3]  # n x n layers: the missing transpose still has the right shape
    sq_x = torch.randn(5, generator=gen, dtype=torch.float64)
    sq_b = torch.randn(5, generator=gen, dtype=torch.float64)
    right = torch.cat([g.flatten() for g in mlp_weight_gradients(square, sq_x, sq_b)])
    for mistake in ("no transpose", "tanh' at x_l"):
        wrong = mlp_weight_gradients(square, sq_x, sq_b, mistake=mistake)
        wrong = torch.cat([g.flatten() for g in wrong])
        assert (wrong - right).norm() > 1e-3 * right.norm(), mistake


def test_planted_weight_gradient_mistake_is_wrong_and_needs_a_mistake():
    import pytest
    import torch

    from course_utils.reference import mlp_weight_gradients, planted_weight_gradient_mistake

    gen = torch.Generator().manual_seed(1)
    weights = [torch.randn(4, 4, generator=gen, dtype=torch.float64) / 2 for _ in range(3)]
    x, b = (torch.randn(4, generator=gen, dtype=torch.float64) for _ in range(2))
    right = torch.cat([g.flatten() for g in mlp_weight_gradients(weights, x, b)])
    for mistake in ("no transpose", "tanh' at x_l"):
        wrong = planted_weight_gradient_mistake(weights, x, b, mistake)
        assert torch.equal(
            torch.cat([g.flatten() for g in wrong]),
            torch.cat([g.flatten() for g in mlp_weight_gradients(weights, x, b, mistake)]),
        )
        assert (torch.cat([g.flatten() for g in wrong]) - right).norm() > 1e-3 * right.norm()
    with pytest.raises(ValueError):
        planted_weight_gradient_mistake(weights, x, b, None)


def test_one_step_contraction_count_and_fixed_point_adjoint():
    import torch

    from course_utils.reference import fixed_point_adjoint, one_step_contraction_count

    gen = torch.Generator().manual_seed(0)
    J = torch.randn(3, 4, 4, generator=gen, dtype=torch.float64)
    J = 0.7 * J / torch.linalg.matrix_norm(J, ord=2).max()
    grad = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    assert one_step_contraction_count(J, 1e-12) == 78  # 0.7**77 > 1e-12 >= 0.7**78
    eye = torch.eye(4, dtype=torch.float64)
    u = torch.linalg.solve(eye - J.transpose(1, 2), grad[..., None])[..., 0]
    assert torch.allclose(fixed_point_adjoint(J, grad, 200), u, rtol=1e-12, atol=1e-14)
    assert torch.equal(fixed_point_adjoint(J, grad, 1), grad)
    two = torch.einsum("bji,bj->bi", J, grad) + grad
    assert torch.allclose(fixed_point_adjoint(J, grad, 2), two, rtol=1e-14, atol=0)


def test_euler_discrete_adjoint_matches_autograd_and_the_planted_mistakes_do_not():
    import torch

    from course_utils.reference import euler_discrete_adjoint

    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(5 * 5 + 5, generator=gen, dtype=torch.float64) / 2
    z0 = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    b = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    K, h = 7, 0.2

    def g(z, th):
        return torch.tanh(z @ th[:25].view(5, 5).T + th[25:])

    th = theta.clone().requires_grad_()
    zs = [z0]
    for _ in range(K):
        zs.append(zs[-1] + h * g(zs[-1], th))
    expected = torch.autograd.grad(0.5 * (zs[-1] - b).pow(2).sum(), th)[0]
    states = [z.detach() for z in zs]

    def vjp(z, u):
        zz, tt = z.clone().requires_grad_(), theta.clone().requires_grad_()
        return torch.autograd.grad(g(zz, tt), (zz, tt), u)

    grad = euler_discrete_adjoint(vjp, states, states[-1] - b, h)
    assert torch.allclose(grad, expected, rtol=1e-12, atol=1e-14)
    for mistake in ("state z_{k+1}", "multiplier u_k"):
        wrong = euler_discrete_adjoint(vjp, states, states[-1] - b, h, mistake=mistake)
        assert (wrong - expected).norm() > 1e-3 * expected.norm(), mistake


def test_minibatch_variance_matches_enumeration():
    import itertools

    import torch

    from course_utils.reference import minibatch_variance

    G = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sigma2 = (G - G.mean(0)).pow(2).sum(1).mean().item()
    for B in range(1, 8):
        means = G[torch.tensor(list(itertools.combinations(range(7), B)))].mean(1)
        exact = (means - G.mean(0)).pow(2).sum(1).mean().item()
        assert abs(minibatch_variance(sigma2, 7, B) - exact) < 1e-12
    assert abs(minibatch_variance(sigma2, 7, 1) - sigma2) < 1e-15


def test_warmup_cosine_matches_torch_sequential_lr():
    import torch

    from course_utils.reference import warmup_cosine

    sched = torch.optim.lr_scheduler
    settings = [(0.1, 1e-3, 0.01, 4, 40), (0.3, 0.0, 0.075, 7, 30)]
    for eta0, eta_min, eta_w, warmup, total in settings:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=eta0)
        scheduler = sched.SequentialLR(
            opt,
            [
                sched.LinearLR(opt, start_factor=eta_w / eta0, total_iters=warmup),
                sched.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=eta_min),
            ],
            milestones=[warmup],
        )
        rates = []
        for _ in range(total):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        k = torch.arange(total, dtype=torch.float64)
        closed = warmup_cosine(k, eta0, eta_min, eta_w, warmup, total)
        torch_rates = torch.tensor(rates, dtype=torch.float64)
        assert torch.allclose(closed, torch_rates, rtol=1e-10, atol=1e-12)
        assert abs(closed[0] - eta_w) < 1e-15 and abs(closed[warmup] - eta0) < 1e-15
        k_end = torch.tensor([float(total)], dtype=torch.float64)
        end = warmup_cosine(k_end, eta0, eta_min, eta_w, warmup, total)
        assert abs(end[0] - eta_min) < 1e-12


def test_lasso_dual_value_is_weak_duality_tight_at_the_solution():
    import torch

    from course_utils.reference import lasso_dual_value

    g = torch.Generator().manual_seed(0)
    A_mat = torch.randn(20, 8, generator=g, dtype=torch.float64)
    y = torch.randn(20, generator=g, dtype=torch.float64)
    lam = 0.5

    def A(v):
        return A_mat @ v

    def A_adjoint(v):
        return A_mat.T @ v

    def F(v):
        return 0.5 * (A(v) - y).pow(2).sum() + lam * v.abs().sum()

    eta = 1 / torch.linalg.matrix_norm(A_mat, 2).item() ** 2
    x = torch.zeros(8, dtype=torch.float64)
    for _ in range(5000):  # ISTA to convergence
        v = x - eta * A_adjoint(A(x) - y)
        x = torch.sign(v) * (v.abs() - eta * lam).clamp_min(0)
    for point in [torch.zeros(8, dtype=torch.float64), torch.randn(8, generator=g).double(), x]:
        assert lasso_dual_value(point, y, lam, A, A_adjoint) <= F(x) + 1e-12
    assert abs(F(x) - lasso_dual_value(x, y, lam, A, A_adjoint)) < 1e-10


def test_grid_search_count_is_exact():
    from course_utils.reference import grid_search_solves_log10

    assert grid_search_solves_log10(3, 10, 100) == 5.0
    assert abs(grid_search_solves_log10(1848, 10, 36) - (1848 + math.log10(36))) < 1e-9


def test_huber_bias_worst_case_is_attained_and_is_the_largest_bias():
    import torch

    from course_utils.reference import huber_bias_worst_case
    from course_utils.regularisers import huber

    gammas = torch.tensor([0.003, 0.01, 0.1], dtype=torch.float64)
    worst = huber_bias_worst_case(gammas, 100)
    assert torch.allclose(worst, gammas * 50, rtol=1e-9)
    a = torch.rand(100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float((a - huber(a, 0.01)).sum()) <= huber_bias_worst_case(0.01, 100) + 1e-12


def test_smoothed_tv_hessian_bound_holds_on_the_flat_image():
    import torch

    import course_utils as cu
    from course_utils import bilevel
    from course_utils.reference import smoothed_tv_hessian_bound

    kappa = cu.kernel_spectrum((32, 32))
    y = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    reg = cu.HuberTV(0.006, 0.01)
    x = torch.full_like(y, 0.5).requires_grad_(True)
    g = bilevel.energy_gradient(x, y, lambda v: cu.fft_blur(v, kappa), reg, create_graph=True)
    v = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for _ in range(200):  # power iteration: the largest eigenvalue of the Hessian
        v = v / v.norm()
        hv = torch.autograd.grad(g, x, v, retain_graph=True)[0]
        m, v = float((v * hv).sum()), hv
    bound = smoothed_tv_hessian_bound(float(kappa.abs().max()), 0.006, 0.01)
    assert 0.97 * 8 * 0.006 / 0.01 <= m <= bound
