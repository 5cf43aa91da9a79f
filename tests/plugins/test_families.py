"""The generator families: their losses at points where the value is known in closed form, their
network variants and capabilities, the generator's prior as the one source of latents, and a short
seeded training run of each family that is finite and repeats exactly on the CPU."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lvrbench.engine.specs import gan_spec
from lvrbench.run.env import RunEnv
from lvrbench.base.errors import UsageError
from lvrbench.run.harness import PlanRequest
from lvrbench.api.contracts import Batch
from lvrbench.api.datainfo import DataInfo
from lvrbench.api.networks import SANDiscriminator, build_discriminator, build_encoder, init_parameters
from lvrbench.api.priors import NormalPrior, PRIORS, UniformPrior
from lvrbench.engine.recovery import recover
from lvrbench.engine.training import TrainSettings, resolve_training, train_gan

from conftest import gen

F64 = torch.float64
POINTS = DataInfo("points", "points", (2,))
IMAGES = DataInfo("images", "image", (1, 28, 28), 10)
FAMILIES = ("vanilla", "lsgan", "wgan", "wgan-gp", "hinge", "san", "gm-gan", "bigan", "logan-b")

pytestmark = pytest.mark.usefixtures("one_thread")


def family(registry, name):
    return registry.get("families", name)


def settings(fam, **override) -> TrainSettings:
    return TrainSettings.from_config(resolve_training(fam, {"epochs": 1, "batch_size": 4, "lr": 1e-3}, override))


def built(fam, data=POINTS, latent_dim=3, arch="mlp", seed=0) -> nn.ModuleDict:
    nets = fam.build(data, latent_dim, arch)
    init_parameters(nets, gen(seed))
    return nets


# --- hinge and WGAN ------------------------------------------------------------------------------

def test_hinge_losses_in_closed_form(registry):
    hinge = family(registry, "hinge")
    zero = torch.zeros(5)
    assert hinge.d_loss(zero, zero).item() == 2.0  # relu(1 - 0) + relu(1 + 0)
    assert hinge.d_loss(torch.full((3,), 2.0), torch.full((3,), -2.0)).item() == 0.0  # both margins met
    # relu(1 - 0.5) + relu(1 + 0.5) = 2; relu(1 - (-1)) + relu(1 + 3) = 6: the minimisation form, not paper 002's
    assert hinge.d_loss(torch.tensor([0.5]), torch.tensor([0.5])).item() == 2.0
    assert hinge.d_loss(torch.tensor([-1.0]), torch.tensor([3.0])).item() == 6.0
    torch.testing.assert_close(hinge.g_loss(torch.tensor([1.5, -2.0])), torch.tensor([-1.5, 2.0]))  # linear


def test_wgan_critic_is_high_on_real_data_and_clipped_after_each_step(registry):
    wgan = family(registry, "wgan")
    assert wgan.d_loss(torch.tensor([3.0, 1.0]), torch.tensor([0.5, -0.5])).item() == -2.0  # E D(fake) - E D(real)
    nets = built(wgan)
    with torch.no_grad():
        nets["D"][0].weight.fill_(0.5)
    s = settings(wgan)
    wgan.after_discriminator_step(Batch(torch.zeros(4, 2), torch.zeros(4, 3), nets, s))
    assert all(p.abs().max().item() <= 0.01 for p in nets["D"].parameters())
    assert nets["D"][0].weight.eq(0.01).all()
    x = torch.randn(6, 2, generator=gen(1))
    torch.testing.assert_close(wgan.realness(nets, x), -nets["D"](x).flatten())  # low where D finds x real
    assert (s.optimizer, s.lr, s.critic_steps, s.options["clip"]) == ("rmsprop", 5e-5, 5, 0.01)
    # Arjovsky's schedule: 100 critic steps for the first 25 generator steps and at every 500th, else 5.
    assert [wgan.critic_steps(s, g) for g in (0, 24, 25, 499, 500, 501)] == [100, 100, 5, 5, 100, 5]
    off = settings(wgan, warmup_generator_steps=0, warmup_every=0)
    assert [wgan.critic_steps(off, g) for g in (0, 500)] == [5, 5]


def test_gradient_penalty_of_a_linear_critic_is_lambda_times_slope_norm_minus_one_squared(registry):
    wgan_gp = family(registry, "wgan-gp")
    nets = built(wgan_gp)
    D = nn.Linear(2, 1).double()
    a = torch.tensor([[3.0, 4.0]], dtype=F64)  # |a| = 5
    with torch.no_grad():
        D.weight.copy_(a)
        D.bias.fill_(0.7)
    nets["D"] = D
    real = torch.randn(8, 2, generator=gen(2), dtype=F64)
    z = torch.randn(8, 3, generator=gen(3), dtype=F64)
    batch = Batch(real, z, nets, settings(wgan_gp), gen(4), _fake=torch.randn(8, 2, generator=gen(5), dtype=F64))
    loss = wgan_gp.discriminator_loss(batch)
    wasserstein = (batch.fake @ a.T).mean() - (real @ a.T).mean()
    assert loss.item() == pytest.approx(wasserstein.item() + 10 * (5 - 1) ** 2, rel=1e-12)
    assert batch.terms["gradient_penalty"].item() == pytest.approx(16.0, rel=1e-12)
    loss.backward()
    # d/da [a.(mean fake - mean real) + λ(|a| - 1)^2] = mean fake - mean real + 2λ(|a| - 1) a/|a|: the penalty trains D
    expected = (batch.fake.mean(0) - real.mean(0)) + 2 * 10 * 4 * a.flatten() / 5
    torch.testing.assert_close(D.weight.grad.flatten(), expected, rtol=1e-12, atol=1e-12)


def test_gradient_penalty_takes_one_interpolation_weight_per_sample_from_the_handed_generator(registry):
    from lvrbench_plugins.wasserstein import gradient_penalty

    class HalfSquare(nn.Module):  # D(x) = |x|^2 / 2, so ∇D(x̂) = x̂ and the penalty is mean (|x̂_i| - 1)^2
        def forward(self, x):
            return 0.5 * x.square().flatten(1).sum(1, keepdim=True)

    real = torch.randn(6, 1, 2, 2, generator=gen(6), dtype=F64)
    fake = torch.randn(6, 1, 2, 2, generator=gen(7), dtype=F64)
    alpha = torch.rand((6, 1, 1, 1), generator=gen(8)).to(F64)
    mixed = real + alpha * (fake - real)
    expected = (mixed.flatten(1).norm(dim=1) - 1).square().mean()
    assert gradient_penalty(HalfSquare(), real, fake, gen(8)).item() == pytest.approx(expected.item(), rel=1e-12)


def test_the_gradient_penalty_critic_has_no_batch_norm(registry):
    def norms(module):
        return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    assert norms(build_discriminator(IMAGES, "dcgan"))  # the standard D has one,
    assert norms(family(registry, "wgan-gp").build(IMAGES, 8, "dcgan")["D"]) == []  # the critic none
    assert family(registry, "wgan-gp").networks["D"] == "critic without batch norm"


# --- SAN -----------------------------------------------------------------------------------------

def san_setup(seed=0):
    D = SANDiscriminator(POINTS, "mlp").double()
    init_parameters(D, gen(seed))
    return D, torch.randn(10, 2, generator=gen(seed + 1), dtype=F64)


def grads(D):
    body = [p.grad for p in D.body.parameters()]
    return body, D.weight.grad


def radial_and_tangential(g, w):
    unit = w / w.norm()
    radial = (g @ unit) * unit
    return radial, g - radial


def test_san_heads_route_gradients_to_the_body_or_to_the_direction():
    D, x = san_setup()
    assert not any(isinstance(m, nn.Linear) and m.out_features == 1 for m in D.modules())  # no biased last layer
    fun, direction = D.split(x)
    h = D.body(x)
    torch.testing.assert_close(fun, h @ D.weight)  # s <w/|w|, h> = <w, h>: normalised in the forward pass
    torch.testing.assert_close(direction, h @ D.weight)
    torch.testing.assert_close(D(x).flatten(), h @ D.weight)

    fun.sum().backward()  # the hinge head: the body and the scale |w|, never the direction
    body, w_grad = grads(D)
    assert all(g is not None and g.abs().sum() > 0 for g in body)
    radial, tangential = radial_and_tangential(w_grad, D.weight.detach())
    assert radial.norm() > 1e-3 and tangential.norm() < 1e-12

    D.zero_grad(set_to_none=True)
    D.split(x)[1].sum().backward()  # the direction head: only the direction
    body, w_grad = grads(D)
    assert all(g is None for g in body)
    radial, tangential = radial_and_tangential(w_grad, D.weight.detach())
    assert tangential.norm() > 1e-3 and radial.norm() < 1e-12


def test_san_discriminator_loss_is_hinge_on_h_plus_wasserstein_on_the_direction(registry):
    san = family(registry, "san")
    assert san.training["direction_weight"] == 1.0 and san.networks["D"].startswith("SAN")
    D, real = san_setup(3)
    fake = torch.randn(10, 2, generator=gen(9), dtype=F64)
    nets = nn.ModuleDict({"D": D})

    def loss_grads(weight):
        D.zero_grad(set_to_none=True)
        batch = Batch(real, torch.zeros(10, 3), nets, settings(san, direction_weight=weight), _fake=fake)
        loss = san.discriminator_loss(batch)
        loss.backward()
        return loss, batch, [p.grad.clone() for p in D.body.parameters()], D.weight.grad.clone()

    loss, batch, body1, w1 = loss_grads(1.0)
    with torch.no_grad():
        fr, ff = D.body(real) @ D.weight, D.body(fake) @ D.weight
    hinge = torch.relu(1 - fr).mean() + torch.relu(1 + ff).mean()
    assert loss.item() == pytest.approx((hinge + ff.mean() - fr.mean()).item(), rel=1e-12)
    _, _, body0, w0 = loss_grads(0.0)
    assert all(torch.equal(a, b) for a, b in zip(body1, body0))  # the direction term never reaches h
    w = D.weight.detach()
    assert radial_and_tangential(w0, w)[1].norm() < 1e-12  # the hinge term never turns the direction
    torch.testing.assert_close(radial_and_tangential(w1, w)[0], radial_and_tangential(w0, w)[0], rtol=1e-10, atol=1e-12)


def test_san_generator_sees_the_undetached_output(registry):
    san = family(registry, "san")
    D, _ = san_setup(4)
    fake = torch.randn(10, 2, generator=gen(5), dtype=F64, requires_grad=True)
    loss = san.generator_loss(Batch(torch.zeros(10, 2), torch.zeros(10, 3), nn.ModuleDict({"D": D}), _fake=fake))
    loss.backward()
    assert loss.item() == pytest.approx(-(D.body(fake) @ D.weight).mean().item(), rel=1e-12)
    _, tangential = radial_and_tangential(D.weight.grad, D.weight.detach())
    assert tangential.norm() > 1e-3 and fake.grad.abs().sum() > 0


# --- GM-GAN ----------------------------------------------------------------------------------------

def test_gm_gan_mixture_log_prob_sampling_and_description(registry):
    gm = family(registry, "gm-gan")
    nets = built(gm, latent_dim=2)
    prior = gm.latent_prior(NormalPrior(dim=2), nets)
    assert prior is nets["prior"] and prior.components == 10
    with torch.no_grad():
        prior.means.copy_(torch.arange(20, dtype=torch.float32).view(10, 2) * 10)
        prior.log_std.copy_(torch.linspace(-2, 0, 20).view(10, 2))
    z = torch.tensor([[0.3, 11.0], [-1.0, 2.0]])
    mu, sd = prior.means.detach().double(), prior.log_std.detach().double().exp()
    comp = torch.distributions.Normal(mu, sd).log_prob(z.double().unsqueeze(1)).sum(-1)  # [2, K]
    torch.testing.assert_close(prior.log_prob(z).double(), torch.logsumexp(comp, 1) - math.log(10), rtol=1e-5, atol=1e-5)
    a, b = prior.sample(2000, gen(3)), prior.sample(2000, gen(3))
    assert a.shape == (2000, 2) and torch.equal(a, b)
    nearest = (a.unsqueeze(1) - prior.means.detach()).norm(dim=-1).argmin(1)
    counts = torch.bincount(nearest, minlength=10)
    assert counts.min() > 150 and counts.max() < 250  # k ~ Cat(1/K): 200 each
    d = prior.describe()
    assert d["kind"] == "gaussian-mixture" and d["dim"] == 2 and len(d["means"]) == 10 and d["weights"] == [0.1] * 10
    assert d["stds"][0][0] == pytest.approx(math.exp(-2), rel=1e-6)


def test_gm_gan_sigma_stays_positive_and_only_the_generator_loss_moves_the_mixture(registry):
    gm = family(registry, "gm-gan")
    nets = built(gm, latent_dim=3)
    prior = gm.latent_prior(NormalPrior(dim=3), nets)
    with torch.no_grad():
        prior.log_std.fill_(-60.0)  # σ = e^-60: tiny, but a log-parameterised σ can never reach 0 or go negative
    assert (prior.log_std.exp() > 0).all()
    real = torch.randn(16, 2, generator=gen(1))
    batch = Batch(real, prior.sample(16, gen(2)), nets, settings(gm))
    gm.discriminator_loss(batch).backward()
    assert prior.means.grad is None and prior.log_std.grad is None  # D's loss sees G(z) detached
    with torch.no_grad():
        prior.log_std.fill_(math.log(0.15))
    batch = Batch(real, prior.sample(16, gen(2)), nets, settings(gm))
    gm.generator_loss(batch).backward()
    assert prior.means.grad.abs().sum() > 0 and prior.log_std.grad.abs().sum() > 0  # through z = μ_k + σ_k ε


def test_gm_gan_generator_refuses_methods_defined_for_the_normal_prior_before_any_work(registry, tmp_path):
    gm = family(registry, "gm-gan")
    prior = gm.latent_prior(NormalPrior(dim=16))
    assert prior.capabilities == {"gaussian-mixture"}
    supported = {m for m in registry.names("regularizers") + registry.names("resamplers") if registry.method(m).supports(prior)}
    assert supported == {"none", "trick-discriminator"}
    task = registry.get("tasks", "recovery-synthetic")
    with pytest.raises(UsageError, match=r"^z-score-square is defined for the normal prior, not the gaussian-mixture prior$"):
        task.plan(PlanRequest(registry, families=("gm-gan",), methods=("z-score-square",)))
    G = nn.Linear(16, 4)
    with pytest.raises(UsageError, match=r"^hard-cutoff is defined for the normal prior, not the gaussian-mixture prior$"):
        recover(G, torch.zeros(2, 4), prior, registry.method("hard-cutoff"), [{"lr": 0.1, "c": 3.0}],
                steps=1, init=None, latent_dim=16, seed=0)
    with pytest.raises(UsageError, match=r"^family gm-gan is trained on the normal prior, not the uniform prior$"):
        gm.check(POINTS, "uniform")


# --- BiGAN and LOGAN-B -------------------------------------------------------------------------

class PairLinear(nn.Module):
    """D(x, z) = c.z + b.x: a pair discriminator whose logits are known in closed form."""

    def __init__(self, c, b):
        super().__init__()
        self.c, self.b = nn.Parameter(torch.tensor(c)), nn.Parameter(torch.tensor(b))

    def forward(self, x, z):
        return (z @ self.c + x.flatten(1) @ self.b).unsqueeze(1)


def pair_setup(registry, name, c=(0.5, -1.0, 2.0), b=(1.0, 0.25)):
    fam = family(registry, name)
    nets = built(fam)
    nets["D"] = PairLinear(list(c), list(b))
    real = torch.randn(8, 2, generator=gen(1))
    z = torch.randn(8, 3, generator=gen(2))
    return fam, nets, Batch(real, z, nets, settings(fam))


def test_bigan_losses_at_an_indifferent_and_at_a_linear_discriminator(registry):
    fam, nets, batch = pair_setup(registry, "bigan", c=(0.0, 0.0, 0.0), b=(0.0, 0.0))
    assert fam.discriminator_loss(batch).item() == pytest.approx(math.log(2), rel=1e-6)  # D ≡ 0: 1/2 (log 2 + log 2)
    assert fam.generator_loss(batch).item() == pytest.approx(math.log(2), rel=1e-6)
    fam, nets, batch = pair_setup(registry, "bigan")
    softplus = torch.nn.functional.softplus
    real_logit = nets["D"](batch.real, nets["E"](batch.real)).flatten()
    fake_logit = nets["D"](batch.fake, batch.z).flatten()
    d_expected = 0.5 * (softplus(-real_logit).mean() + softplus(fake_logit).mean())
    # G and E: labels flipped; softplus(+logit) on real pairs: the encoder makes real pairs look fake (Donahue)
    ge_expected = 0.5 * (softplus(real_logit).mean() + softplus(-fake_logit).mean())
    assert fam.discriminator_loss(batch).item() == pytest.approx(d_expected.item(), rel=1e-6)
    assert fam.generator_loss(batch).item() == pytest.approx(ge_expected.item(), rel=1e-6)
    torch.testing.assert_close(fam.realness(nets, batch.real), softplus(-real_logit).detach())
    assert {"encode", "realness", "log_density_ratio"} <= fam.capabilities
    assert fam.encode(nets, batch.real).shape == (8, 3)
    # D(x, z) is BCE-trained on pairs: its logit on (G(z), z) is the joint log ratio; a real sample pairs with E(x)
    torch.testing.assert_close(fam.log_density_ratio(nets, batch.fake, batch.z), fake_logit)
    torch.testing.assert_close(fam.log_density_ratio(nets, batch.real, None), real_logit)
    torch.testing.assert_close(fam.critic_score(nets, batch.fake, batch.z), fake_logit)


def test_logan_b_takes_an_adversarial_then_a_surrogate_step(registry):
    from lvrbench_plugins.bigan import l1_reconstruction

    x = torch.zeros(2, 3)
    assert l1_reconstruction(x, torch.tensor([[1.0, -2.0, 0.0], [0.0, 0.0, 3.0]])).item() == 3.0  # (3 + 3) / 2
    fam, nets, batch = pair_setup(registry, "logan-b")
    bigan, _, _ = pair_setup(registry, "bigan")
    losses = fam.generator_losses(batch)
    adversarial = next(losses)
    assert adversarial.item() == pytest.approx(bigan.adversarial_loss(batch).item(), rel=1e-6)
    with torch.no_grad():  # stands in for the adversarial step: the surrogate loss must see the updated weights
        nets["G"][0].weight.mul_(2.0)
    surrogate = next(losses)
    expected = (batch.real - nets["G"](nets["E"](batch.real))).abs().sum(1).mean()
    assert surrogate.item() == pytest.approx(expected.item(), rel=1e-6)
    assert batch.terms["surrogate"].item() == pytest.approx(expected.item(), rel=1e-6)
    surrogate.backward()
    assert all(p.grad is not None for key in ("G", "E") for p in nets[key].parameters())
    assert all(p.grad is None for p in nets["D"].parameters())
    assert next(losses, None) is None


# --- capabilities, encoders and the identity ---------------------------------------------------

def test_capabilities_are_declared_and_missing_ones_refused_in_one_line(registry):
    caps = {name: family(registry, name).capabilities for name in FAMILIES}
    assert {n for n, c in caps.items() if "encode" in c} == {"bigan", "logan-b"}
    assert {n for n, c in caps.items() if "log_density_ratio" in c} == {"vanilla", "gm-gan", "bigan", "logan-b"}
    assert all("realness" in c for c in caps.values())
    with pytest.raises(UsageError, match=r"^family lsgan has no encoder$"):
        family(registry, "lsgan").encode(nn.ModuleDict(), torch.zeros(1, 2))
    with pytest.raises(UsageError, match=r"^family wgan gives no log density ratio: its discriminator's optimum is not one$"):
        family(registry, "wgan").log_density_ratio(nn.ModuleDict(), torch.zeros(1, 2), None)
    vanilla = family(registry, "vanilla")
    nets = built(vanilla)
    x = torch.randn(5, 2, generator=gen(1))
    z = torch.randn(5, 3, generator=gen(2))
    torch.testing.assert_close(vanilla.log_density_ratio(nets, x, z), nets["D"](x).flatten())  # the BCE logit; z unused
    torch.testing.assert_close(vanilla.log_density_ratio(nets, x, None), nets["D"](x).flatten())
    wgan = family(registry, "wgan")
    nets = built(wgan)
    torch.testing.assert_close(wgan.critic_score(nets, x, z), nets["D"](x).flatten())  # raw critic: high = real


@pytest.mark.parametrize("data,arch", [(POINTS, "mlp"), (IMAGES, "mlp"), (IMAGES, "dcgan")])
def test_encoder_maps_samples_to_latents_independently_of_the_batch(data, arch):
    E = build_encoder(data, 7, arch)
    init_parameters(E, gen(0))
    x = torch.randn(4, *data.shape, generator=gen(1))
    out = E(x)
    assert out.shape == (4, 7)
    torch.testing.assert_close(E(x[:1]), out[:1])  # no batch norm: one sample's code ignores the others


def test_training_declaration_and_network_variants_enter_the_generators_identity(registry, monkeypatch):
    from lvrbench.kit.protocols import gan_config

    request = PlanRequest(registry)
    monkeypatch.setattr(PlanRequest, "fingerprint", lambda self, dataset: "digest")
    spec = gan_spec(request, gan_config("points", "quick", family="wgan-gp", dataset="ring8", prior="normal", seed=0))
    assert spec["train"]["optimizer"] == "adam" and spec["train"]["penalty"] == 10.0
    assert spec["networks"]["D"] == "critic without batch norm"
    wgan_gp = family(registry, "wgan-gp")
    monkeypatch.setattr(type(wgan_gp), "training", {**wgan_gp.training, "penalty": 5.0})
    again = gan_spec(request, gan_config("points", "quick", family="wgan-gp", dataset="ring8", prior="normal", seed=0))
    assert again["train"]["penalty"] == 5.0 and again != spec  # a changed declaration is another artifact
    # profile < family declaration < a protocol's per-family replacement; applying it twice changes nothing
    resolved = resolve_training(wgan_gp, {"epochs": 1, "lr": 1.0, "batch_size": 8}, {"critic_steps": 2})
    assert (resolved["lr"], resolved["critic_steps"], resolved["epochs"]) == (1e-4, 2, 1)
    assert resolve_training(wgan_gp, resolved, {"critic_steps": 2}) == resolved
    with pytest.raises(UsageError, match=r"^family gm-gan is trained on the normal prior, not the uniform prior$"):
        gan_spec(request, gan_config("points", "quick", family="gm-gan", dataset="ring8", prior="uniform", seed=0))


# --- training: every family, finite and bit-identical --------------------------------------------

@pytest.fixture(scope="module")
def tiny_data(registry):
    ring, _ = registry.get("datasets", "ring8").load("train", None)
    return {"ring8": ring[:256]}


def tiny_run(registry, name, data, info, prior="normal", arch="mlp"):
    fam = family(registry, name)
    nets = built(fam, info, latent_dim=4, arch=arch)
    base = PRIORS[prior].with_dim(4)
    # 4 iterations of batch 64: 2 critic steps and no warm-up, so every family updates its generator
    s = TrainSettings.from_config(resolve_training(fam, {"epochs": 2, "batch_size": 64, "lr": 1e-3},
                                                   {"critic_steps": 2, "warmup_generator_steps": 0, "warmup_every": 0}))
    metrics = train_gan(fam, nets, data, fam.latent_prior(base, nets), s, gen(11), torch.device("cpu"), name)
    return nets, metrics


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_trains_finitely_and_repeats_bit_for_bit(registry, tiny_data, name):
    nets_a, metrics_a = tiny_run(registry, name, tiny_data["ring8"], POINTS)
    nets_b, metrics_b = tiny_run(registry, name, tiny_data["ring8"], POINTS)
    a, b = nets_a.state_dict(), nets_b.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and metrics_a == metrics_b
    assert all(torch.isfinite(v).all() for v in a.values())
    history = metrics_a["history"]
    assert [h["epoch"] for h in history] == [1, 2] and all(h["generator_steps"] == 2 for h in history)
    assert all(math.isfinite(h["d_loss"]) and math.isfinite(h["g_loss"]) for h in history)


@pytest.mark.parametrize("name", FAMILIES)
def test_image_families_train_on_images(registry, name):
    x = torch.rand(128, 1, 28, 28, generator=gen(0)) * 2 - 1
    for arch in ("mlp", "dcgan"):
        nets, metrics = tiny_run(registry, name, x, IMAGES, arch=arch)
        assert all(math.isfinite(h["d_loss"]) for h in metrics["history"])


def test_bigan_trains_on_the_uniform_prior(registry, tiny_data):
    _, metrics = tiny_run(registry, "bigan", tiny_data["ring8"], POINTS, prior="uniform")
    assert math.isfinite(metrics["final_g_loss"])


def test_a_trained_gm_gan_draws_and_describes_its_learned_mixture(registry, tmp_path):
    spec = {"family": "gm-gan", "dataset": "ring8", "prior": "normal", "seed": 0, "arch": "mlp", "latent_dim": 4,
            "train": {"epochs": 1, "batch_size": 1000, "lr": 1e-3}}
    gan = RunEnv(registry, torch.device("cpu"), tmp_path).gan(spec)
    assert gan.prior is gan.nets["prior"]
    initial = family(registry, "gm-gan").latent_prior(NormalPrior(dim=4), built(family(registry, "gm-gan"), latent_dim=4))
    assert not torch.equal(gan.prior.means, initial.means) or not torch.equal(gan.prior.log_std, initial.log_std)
    described = gan.describe()["prior"]
    assert described["kind"] == "gaussian-mixture" and torch.tensor(described["means"]).shape == (10, 4)
    with torch.no_grad():
        z = gan.prior.sample(50, gen(3))
        torch.testing.assert_close(gan.sample(50, gen(3), torch.device("cpu")), gan.nets["G"](z))
    assert [h["epoch"] for h in gan.history] == [1] and "history" not in gan.describe()
    again = RunEnv(registry, torch.device("cpu"), tmp_path).gan(spec)  # from the cache: the mixture is in the state dict
    assert torch.equal(again.prior.means, gan.prior.means) and again.history == gan.history


def test_uniform_prior_log_prob_and_joint_samples():
    prior = UniformPrior(-1.0, 1.0, dim=3)
    z = prior.sample(5, gen(1))
    assert z.shape == (5, 3) and torch.equal(z, UniformPrior(-1.0, 1.0).sample_elements((5, 3), gen(1)))
    lp = prior.log_prob(torch.tensor([[0.0, 0.5, -0.9], [0.0, 1.5, 0.0]]))
    assert lp[0].item() == pytest.approx(-3 * math.log(2)) and lp[1].item() == -math.inf
    normal = NormalPrior(1.0, 2.0, dim=2)
    assert normal.log_prob(torch.tensor([[1.0, 3.0]])).item() == pytest.approx(
        -2 * math.log(2.0) - math.log(2 * math.pi) - 0.5, rel=1e-6)
    assert prior.describe() == {"kind": "uniform", "low": -1.0, "high": 1.0, "dim": 3}
    with pytest.raises(ValueError, match="the normal prior has no dimension: build it with with_dim"):
        NormalPrior().sample(2, gen(0))
