"""The `reconstruction` task: how well a trained generator can be inverted (paper 003 §2.4.3 and §4.1, Table 1).

For each family, a post-hoc encoder E' is trained 5 times (5 seeds) from G's own samples back to the latents that
made them; the score is the L1 reconstruction error of held-out real data through it, mean ± sd over the 5
trainings. Families with their own encoder (capability "encode": BiGAN, LOGAN-B) also report that ad-hoc encoder's
error on the same held-out data.

What the error is computed on (paper 003 §2.4.3): "the reconstruction losses on the holdout data", the loss being
the one LOGAN-B's surrogate minimises, ℓ(x, G(E(x))) (eqs. 8 and 12) with ℓ = L1 (§4.1): an x-space error on real
held-out samples, Σ_coordinates |G(E(x)) - x| averaged over the samples (as the reference notebooks compute
it, experiments/synthetic cells 17-21, and as Table 2's MNIST values of ~100 summed over 1024 pixels show). The
encoders' training target is the latent (§2.4.3: "the latent random noise as the target and images from the
generator as the input"); the reference adds the x-space term of the same samples, L1(G(E'(G(z))), G(z)) +
L1(E'(G(z)), z), which lvrbench follows (per-sample sums, averaged over the batch: a constant factor of the
reference's batch sums, which Adam does not see).
"""
from __future__ import annotations

import math
import statistics
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from lvrbench.api import (METRIC, CellOutcome, Environment, Estimate, Request, TrainedGAN, bootstrap_mean,
                          build_encoder, check_fields, derive_seed, hookimpl, init_parameters, is_number,
                          items_generator)
from lvrbench.kit import (GAN_PROTOCOL, GAN_TRAINING, TRAINED_NOTE, Column, FamilyTask, Generator, config_text,
                          dataset_details, encode_images, encode_points, fmt_estimate, fmt_number, frozen, gan_fields,
                          gan_spec, generator_check_problems, generator_config, group, headlines, left_out_lines,
                          link, payload_problem, ranking_table, samples_drawer, table, trained_text, unit_label,
                          units_of)


#: Per profile and modality. `full` on the ring is the reference's (5 encoders of 10,000 Adam steps at 1e-3 in
#: batches of 2048, 1,000 test points per mode); `quick` keeps each encoder to about a second on a CPU core.
ENCODERS = {
    "quick": {"points": {"n_encoders": 5, "steps": 100, "batch_size": 512, "lr": 1e-3, "n_test": 2000},
              "image": {"n_encoders": 5, "steps": 25, "batch_size": 128, "lr": 1e-3, "n_test": 500}},
    "standard": {"points": {"n_encoders": 5, "steps": 1000, "batch_size": 512, "lr": 1e-3, "n_test": 8000},
                 "image": {"n_encoders": 5, "steps": 500, "batch_size": 128, "lr": 1e-3, "n_test": 2000}},
    "full": {"points": {"n_encoders": 5, "steps": 10000, "batch_size": 2048, "lr": 1e-3, "n_test": 8000},
             "image": {"n_encoders": 5, "steps": 10000, "batch_size": 128, "lr": 1e-3, "n_test": 10000}},
}
N_BOOT = 1000
SCORED_BY = {"{} post-hoc encoders": "config.settings.n_encoders", "encoder `{}`": "config.settings.encoder_arch",
             "each {} Adam steps": "config.settings.steps",
             "batches of {}": "config.settings.batch_size", "lr {}": "config.settings.lr",
             "scored on {} held-out test samples": "config.settings.n_test"}
LABELS = {"post_hoc": "post hoc L1", "ad_hoc": "ad hoc L1"}
#: How this task's configs state our protocol beside paper 003's.
OURS = {"{}": "dataset", "arch {}": "settings.gan.arch", "d_z {}": "settings.gan.latent_dim",
        "{} epochs": "settings.gan.train.epochs", "{} post-hoc encoders": "settings.n_encoders",
        "{} test samples": "settings.n_test"}


@torch.no_grad()
def l1_errors(G: nn.Module, encode: Callable[[Tensor], Tensor], x: Tensor, batch: int = 1000) -> Tensor:
    """Per sample Σ_coordinates |G(E(x)) - x| ([n], float64 on the CPU): paper 003's reconstruction error."""
    out = []
    for start in range(0, x.shape[0], batch):
        xb = x[start:start + batch]
        out.append((G(encode(xb)) - xb).abs().flatten(1).sum(1).double().cpu())
    return torch.cat(out)


def train_encoder(gan: TrainedGAN, encoder: nn.Module, steps: int, batch_size: int, lr: float,
                  generator: torch.Generator, device: torch.device) -> nn.Module:
    """Fit `encoder` (in place) to invert G on G's own samples, latents from G's prior drawn from `generator`:
    the loss L1(G(E(G(z))), G(z)) + L1(E(G(z)), z) of paper 003's reference evaluation (see the module docstring)."""
    G = gan.nets["G"]
    encoder.to(device).train()
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    with frozen(G), torch.enable_grad():
        for _ in range(steps):
            with torch.no_grad():  # a learned prior (GM-GAN's) is G's too: no gradient reaches its parameters
                z = gan.prior.sample(batch_size, generator, device)
                x = G(z)
            z_hat = encoder(x)
            loss = (G(z_hat) - x).abs().flatten(1).sum(1).mean() + (z_hat - z).abs().sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return encoder.eval()


def over_encoders(errors: Tensor, generator: torch.Generator, n_boot: int = N_BOOT) -> Estimate:
    """Mean error of k encoders' per-sample errors [k, n] with a 95% two-level bootstrap interval: each draw resamples
    the held-out samples (the same draw for every encoder: they are scored on the same samples) and the k encoder
    trainings, so the interval covers both the test sample and the training's seed."""
    k, n = errors.shape
    reps = []
    for start in range(0, n_boot, 100):
        b = min(100, n_boot - start)
        items = torch.randint(n, (b, n), generator=generator)
        runs = torch.randint(k, (b, k), generator=generator)
        per_run = errors[:, items].mean(-1)  # [k, b]: each encoder's mean over the resampled samples
        reps.append(per_run.gather(0, runs.T).mean(0))
    low, high = np.quantile(torch.cat(reps).numpy(), [0.025, 0.975])
    return Estimate(float(errors.mean()), float(low), float(high), n)


class Reconstruction(FamilyTask):
    """L1 reconstruction error of held-out data through post-hoc encoders of each family's generator (and its own)."""

    name = "reconstruction"
    revision = 2  # 2: the generator's check (issue 20)
    method = "post-hoc-encoder"
    datasets = {"quick": ("ring8", "fashion-mnist"), "standard": ("ring8", "fashion-mnist"), "full": ("ring8", "mnist")}
    source = ("paper 003 §2.4.3 (a post-hoc encoder trained 5 times from G's samples to their latents; the L1 error "
              "Σ|G(E(x)) - x| of held-out data, mean ± sd over the 5) and §4.1 (the 8-Gaussian ring with a uniform prior, "
              "Table 1); families with their own encoder (BiGAN, LOGAN-B) also report its ad hoc error")

    protocol_fields = GAN_PROTOCOL + (
        ("post-hoc encoders", "settings.n_encoders"), ("encoder architecture", "settings.encoder_arch"),
        ("encoder steps", "settings.steps"), ("encoder batch", "settings.batch_size"), ("encoder learning rate", "settings.lr"),
        ("held-out test samples", "settings.n_test"))

    def settings(self, request: Request, dataset: str, generator: Generator, seed: int) -> dict:
        """A cell's settings: its generator's identity (the one `generation` trains) and the encoders' protocol."""
        gan = generator_config(request, dataset, generator, seed)
        modality = request.registry.get("datasets", dataset).modality
        # the encoders are lvrbench's networks for the profile, also for a pretrained G of another architecture
        return {"gan": gan_spec(request, gan), "encoder_arch": GAN_TRAINING[modality][request.profile]["arch"],
                **ENCODERS[request.profile][modality]}

    def validate(self, result: dict) -> list[str]:
        ints = {f"config.settings.{k}": int for k in ("n_encoders", "steps", "batch_size", "n_test")}
        fields = {"metrics.post_hoc": METRIC, "extra.post_hoc_runs": list, "extra.reconstructions": dict,
                  "config.settings.lr": (int, float), "config.settings.encoder_arch": str, **gan_fields(result), **ints}
        if "ad_hoc" in result.get("metrics", {}):
            fields["metrics.ad_hoc"] = METRIC
        problems = check_fields(result, fields)
        if problems:
            return problems
        runs, k = result["extra"]["post_hoc_runs"], result["config"]["settings"]["n_encoders"]
        value = result["metrics"]["post_hoc"]["value"]
        if k < 1 or len(runs) != k or not all(is_number(e) and e >= 0 for e in runs):
            problems.append(f"extra.post_hoc_runs must hold {k} non-negative numbers, one per encoder training")
        elif abs(statistics.fmean(runs) - value) > 1e-9 * max(1.0, abs(value)):
            problems.append("metrics.post_hoc.value must be the mean of extra.post_hoc_runs")
        if bad := payload_problem(result["extra"]["reconstructions"]):
            problems.append(f"extra.reconstructions: {bad}")
        centers = result["extra"].get("centers")
        if centers is not None and (bad := payload_problem({"kind": "points", "data": centers})):
            problems.append(f"extra.centers: {bad}")
        return problems + generator_check_problems(result)

    def score(self, c: dict, env: Environment) -> CellOutcome:
        s = c["settings"]
        gan = env.gan(s["gan"])
        data = env.dataset(c["dataset"])
        x_test, _ = env.split(c["dataset"], "test")
        pick = torch.randperm(x_test.shape[0], generator=torch.Generator().manual_seed(derive_seed(c["seed"], "held-out")))
        x = x_test[pick[: s["n_test"]]].to(env.device)
        G = gan.nets["G"]
        errors, first = [], None
        for k in range(s["n_encoders"]):
            encoder = build_encoder(data.info, gan.latent_dim, s["encoder_arch"])
            init_parameters(encoder, torch.Generator().manual_seed(derive_seed(c["seed"], k, "encoder init")))
            train_encoder(gan, encoder, s["steps"], s["batch_size"], s["lr"],
                          torch.Generator().manual_seed(derive_seed(c["seed"], k, "encoder latents")), env.device)
            errors.append(l1_errors(G, encoder, x))
            if k == 0:
                first = encoder
        errors_t = torch.stack(errors)
        items = {"dataset": c["dataset"], "seed": c["seed"], "n_test": s["n_test"], "score": "reconstruction"}
        metrics = {"post_hoc": over_encoders(errors_t, items_generator(items)).to_dict()}
        encoders = {"post hoc": first}
        if "encode" in gan.family.capabilities:
            own = lambda xb: gan.family.encode(gan.nets, xb)  # noqa: E731
            metrics["ad_hoc"] = bootstrap_mean(l1_errors(G, own, x), items_generator(items)).to_dict()
            encoders["ad hoc"] = own
        extra = {"post_hoc_runs": [float(e) for e in errors_t.mean(1)],
                 "reconstructions": self._reconstructions(G, encoders, x, data.modality)}
        if data.modality == "points":
            extra["centers"] = [list(p) for p in getattr(data, "centers", ())] or None
        return CellOutcome(metrics=metrics, extra=extra, artifacts={"generator": gan.describe()})

    @staticmethod
    @torch.no_grad()
    def _reconstructions(G: nn.Module, encoders: dict, x: Tensor, modality: str) -> dict:
        """What the page draws (paper 003 Fig. 2): G(E(x)) of the first held-out points, or for images a grid of the
        first 8 held-out images over their post-hoc (and ad-hoc) reconstructions."""
        if modality == "points":
            return encode_points(G(encoders["post hoc"](x[:1000])))
        rows = [x[:8]] + [G(e(x[:8])) for e in encoders.values()]
        return encode_images(torch.cat(rows).cpu())

    def headlines(self, results: list[dict]) -> list[headlines.Headline]:
        out = []
        for (dataset,), rows in group(results, lambda r: (r["config"]["dataset"],)).items():
            refs = tuple(r for r in headlines.RECONSTRUCTION if r.dataset == dataset)
            if refs:
                units, left = units_of(rows, unit_label(rows))
                out += headlines.ordering_claims("reconstruction", refs, dataset, config_text(rows, OURS), units,
                                                 LABELS, left)
        return out

    def render(self, results: list[dict], page) -> str:
        by_dataset = group(results, lambda r: (r["config"]["dataset"],))
        out = ["## Ranking", "", "Families by the post-hoc reconstruction error Σ|G(E(x)) - x| of held-out test samples "
               "(paper 003 §2.4.3, ℓ = L1 as in §4.1); the ad hoc error of a family's own encoder beside it, unranked.",
               ""]
        for (dataset,), rows in by_dataset.items():
            units, left = units_of(rows, unit_label(rows))
            columns = [Column("post_hoc", "post hoc L1 ↓", True, ranked=True, bounds=(0, math.inf)),
                       Column("ad_hoc", "ad hoc L1 ↓", True, bounds=(0, math.inf))]
            out += [f"### {dataset}", "", *ranking_table(units, columns, paired=False), *left_out_lines(left), ""]
        out += headlines.section(self.headlines(results), " (paper 003's ring; its L1 is on our scale there)")
        out += ["## Details", "", "**post hoc**, a network's own: `mean ± sd [low, high]`, where mean and sd (population "
                "sd, as paper 003 reports it) are over the independently seeded encoder trainings, and [low, high] is "
                "a 95% bootstrap interval resampling both the held-out samples and the encoder trainings. **ad hoc**: "
                "the family's own encoder, one network, with a 95% bootstrap interval over the held-out samples; `-` "
                "for families without one. Bootstraps are seeded by the held-out sample set, so families scored on the "
                "same samples are resampled alike. " + TRAINED_NOTE, ""]
        for (dataset,), rows in by_dataset.items():
            lines, networks = dataset_details(dataset, rows, SCORED_BY)
            out += lines
            body = []
            for name, r in networks:
                c, m, runs = r["config"], r["metrics"], r["extra"]["post_hoc_runs"]
                figure = page.figure(f"{dataset}-{c['family']}-{c['prior']}-{r['id']}", self._drawer(r, dataset))
                post = f"{fmt_number(m['post_hoc']['value'])} ± {fmt_number(statistics.pstdev(runs))} " \
                       f"[{fmt_number(m['post_hoc']['low'])}, {fmt_number(m['post_hoc']['high'])}]"
                body.append([name, c["seed"], len(runs), post, fmt_estimate(m["ad_hoc"]) if "ad_hoc" in m else "-",
                             trained_text(r), link("reconstructions", figure)])
            out += ["Each network's own numbers (intervals: its evaluation noise, not the variation between trained "
                    "networks):", "", table(body, ["family", "seed", "encoders", "post hoc L1 ↓", "ad hoc L1 ↓",
                                                    "trained", "figure"]), ""]
        return "\n".join(out)

    @staticmethod
    def _drawer(result: dict, dataset: str):
        return samples_drawer(result["extra"]["reconstructions"], result["extra"].get("centers"),
                              f"{result['config']['family']} on {dataset}: G(E'(x)) of held-out points")


@hookimpl
def lvrbench_tasks():
    return [Reconstruction()]
