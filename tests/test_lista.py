import pytest
import torch

from course_utils.lista import (
    LISTA,
    LISTACP,
    SparseCoding,
    ista,
    lipschitz,
    nmse_db,
    soft_threshold,
)


def _problem():
    prob = SparseCoding(m=20, n=40, sparsity=0.1, sigma=0.01, seed=0)
    x, y = prob.sample(16, torch.Generator().manual_seed(1))
    return prob, prob.dictionary.double(), x.double(), y.double()


def test_sample_has_the_stated_shapes_sparsity_and_noise():
    prob = SparseCoding(m=20, n=40, sparsity=0.25, sigma=0.0)
    x, y = prob.sample(4000, torch.Generator().manual_seed(0))
    assert x.shape == (4000, 40) and y.shape == (4000, 20)
    assert abs(float((x != 0).float().mean()) - 0.25) < 0.01
    assert torch.allclose(y, x @ prob.dictionary.T)  # sigma = 0: no noise
    assert torch.allclose(prob.dictionary.norm(dim=0), torch.ones(40))
    x2, _ = prob.sample(4000, torch.Generator().manual_seed(0), sparsity=0.5)
    assert abs(float((x2 != 0).float().mean()) - 0.5) < 0.01


def test_bad_problems_and_inputs_are_refused():
    with pytest.raises(ValueError, match="0 < m < n"):
        SparseCoding(m=50, n=40)
    with pytest.raises(ValueError, match="sparsity"):
        SparseCoding().sample(4, torch.Generator(), sparsity=0.0)
    with pytest.raises(ValueError, match="layers"):
        LISTA(SparseCoding().dictionary, K=2, lam=0.1)(torch.zeros(1, 64), layers=3)
    with pytest.raises(ValueError, match="shape"):
        nmse_db(torch.zeros(2, 3), torch.ones(3, 2))


def test_soft_threshold_is_deepinv_l1_prox():
    from deepinv.optim import L1Prior

    v = torch.linspace(-2, 2, 101)
    assert torch.allclose(soft_threshold(v, 0.3), L1Prior().prox(v, gamma=0.3))


def test_ista_equals_deepinv_pgd_and_fista_is_faster():
    import deepinv as dinv
    from deepinv.optim import PGD, L1Prior
    from deepinv.optim.data_fidelity import L2

    _, A, _, y = _problem()
    lam, L = 0.05, lipschitz(A)
    physics = dinv.physics.LinearPhysics(A=lambda v: v @ A.T, A_adjoint=lambda r: r @ A)
    pgd = PGD(data_fidelity=L2(), prior=L1Prior(), lambda_reg=lam, stepsize=1 / L, max_iter=50)
    x_dinv = pgd(y, physics, init=torch.zeros(y.shape[0], A.shape[1], dtype=y.dtype))
    assert (ista(y, A, lam, 50)[-1] - x_dinv).abs().max() < 1e-12

    def F(x):
        return 0.5 * (x @ A.T - y).pow(2).sum() + lam * x.abs().sum()

    F_star = F(ista(y, A, lam, 5000, accelerate=True)[-1])
    gap_ista = F(ista(y, A, lam, 100)[-1]) - F_star
    gap_fista = F(ista(y, A, lam, 100, accelerate=True)[-1]) - F_star
    assert 0 <= gap_fista < gap_ista


@pytest.mark.parametrize("kind", ["untied", "tied", "cp"])
def test_untrained_lista_is_ista(kind):
    _, A, _, y = _problem()
    lam, K = 0.05, 6
    if kind == "cp":
        model = LISTACP(A, K, lam).double()
    else:
        model = LISTA(A, K, lam, tied=kind == "tied").double()
    iterates = ista(y, A, lam, K)
    for k in (1, 3, K):
        assert (model(y, layers=k) - iterates[k - 1]).abs().max() < 1e-12


def test_lista_learns_and_parameter_counts():
    prob, A, _, _ = _problem()
    A = prob.dictionary
    m, n, K = prob.m, prob.n, 4
    assert sum(p.numel() for p in LISTA(A, K, 0.1).parameters()) == K * (n * m + n * n + 1)
    assert sum(p.numel() for p in LISTA(A, K, 0.1, tied=True).parameters()) == n * m + n * n + K
    assert sum(p.numel() for p in LISTACP(A, K, 0.1).parameters()) == K * (m * n + 1)
    torch.manual_seed(0)
    model = LISTACP(A, K, 0.05)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(2)
    x_val, y_val = prob.sample(500, torch.Generator().manual_seed(3))
    before = nmse_db(model(y_val), x_val)
    for _ in range(200):
        x, y = prob.sample(64, g)
        opt.zero_grad()
        (model(y) - x).pow(2).sum(1).mean().backward()
        opt.step()
    with torch.no_grad():
        assert nmse_db(model(y_val), x_val) < before - 2


def test_held_out_sets_use_seeds_the_training_batches_never_use():
    from course_utils.lista import HELD_OUT_SEEDS

    steps = 6000  # the training script's default; its batch seeds are seed * 1000003 + step
    assert min(HELD_OUT_SEEDS.values()) >= 10**8 > 1_000_003 * 10 + steps
    x1, _ = SparseCoding().held_out(5, "test")
    x2, _ = SparseCoding().held_out(5, "test")
    assert torch.equal(x1, x2)
    with pytest.raises(ValueError, match="name"):
        SparseCoding().held_out(5, "train")
