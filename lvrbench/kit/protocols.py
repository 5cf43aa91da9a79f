"""Training settings the tasks share, per profile: one generator artifact serves every task that asks for it.

`full` follows paper 000 §2 (Adam 1e-5, 200 epochs, batch 32 for the GAN; 50 epochs for the
classifier) with d_z = 256 on a DCGAN-style architecture: the paper names the loss (LSGAN),
the latent size and the optimiser but no architecture, so the architecture is lvrbench's choice
(`lvrbench/networks.py`), shared by every family. `quick` trains a small fully connected
GAN for a few epochs so that `lvrbench run --all` finishes in under 5 minutes on two CPU cores, with
d_z = 16: a few epochs leave a d_z = 256 generator flat along most latent directions (at a
random z, 42 of the 256 singular values of its Jacobian exceed 1% of the largest), so z_true
could not be recovered by any method and `recovery-synthetic` would compare nothing.
`standard` is paper 000's d_z = 256 on the same fully connected G (256 → 512 → 784, the first layers of papers
002's and 004's MLP; their 1024-wide layer would double recovery's cost, and the 7 x 8 grid on 500 images is what
the profile's time is for), trained 5 times as long as quick's longest image run (15 epochs, Adam 2e-4, batch 128); the mixtures
train for 60 epochs under 3 seeds. Training longer does not make G less flat: after the 15 epochs, 24 to 38 of
the 256 singular values of its Jacobian exceed 1% of the largest at three random z (quick's 3 epochs: 42), so
z_true is not identifiable along most directions and `recovery-synthetic`'s errors stay near 1.5 (none 1.68,
logistic(4, 2) 1.50 on 100 latents), yet there the regularizers and criteria are what sets those directions, and
their paired differences with `none` are clear (logistic(2, 2) -0.144 [-0.173, -0.110]). Sizes were
chosen with `benchmarks/profile_cost.py` for about 100 minutes of a cold `lvrbench run --all --profile standard`.
"""
from __future__ import annotations

GAN_TRAINING = {
    "image": {
        "quick": {"arch": "mlp", "latent_dim": 16, "train": {"epochs": 2, "batch_size": 128, "lr": 3e-4, "betas": [0.5, 0.999]}},
        "standard": {"arch": "mlp", "latent_dim": 256, "train": {"epochs": 15, "batch_size": 128, "lr": 2e-4, "betas": [0.5, 0.999]}},
        "full": {"arch": "dcgan", "latent_dim": 256, "train": {"epochs": 200, "batch_size": 32, "lr": 1e-5, "betas": [0.9, 0.999]}},
    },
    "points": {
        "quick": {"arch": "mlp", "latent_dim": 16, "train": {"epochs": 40, "batch_size": 256, "lr": 1e-3, "betas": [0.5, 0.999]}},
        "standard": {"arch": "mlp", "latent_dim": 16, "train": {"epochs": 60, "batch_size": 256, "lr": 1e-3, "betas": [0.5, 0.999]}},
        "full": {"arch": "mlp", "latent_dim": 16, "train": {"epochs": 200, "batch_size": 256, "lr": 1e-3, "betas": [0.5, 0.999]}},
    },
}

#: Per modality, profile and family: replacements for the family's declared training settings (`Family.training`).
#: `full` keeps every declaration (the papers' settings), and on the point mixtures gives BiGAN and LOGAN-B the
#: LOGAN-B synthetic notebook's (Adam 1e-3 with default betas, batch 2048, 100 epochs; paper 003 §4.1).
#: `quick` trains all nine families on Fashion-MNIST and ring8 (not grid25: at 40 epochs 8 of its 9 generators
#: failed the training check, so quick's grid25 rows measured nothing) in about 5 minutes of CPU time on one thread
#: (a cold run's builds, on a 2-core machine running two of them at once: 2 min 34 s for the ten generators on
#: Fashion-MNIST, 2 min 26 s for the nine on ring8, where BiGAN and LOGAN-B take 31 and 35 s). On images every
#: family trains 1 epoch but LSGAN, which serves the recovery tasks (2); WGAN drops its 100-critic-step warm-up,
#: which alone would take 2,500 of quick's iterations, and WGAN, WGAN-GP, BiGAN and LOGAN-B raise their papers'
#: learning rates so that a few thousand iterations move them at all (BiGAN and LOGAN-B cover 7 and 8 of ring8's
#: modes at 1e-3, 2 and 1 at their papers' 2e-4).
FAMILY_TRAINING: dict[str, dict[str, dict[str, dict]]] = {
    "image": {
        "quick": {
            "vanilla": {"epochs": 1}, "hinge": {"epochs": 1}, "san": {"epochs": 1}, "gm-gan": {"epochs": 1},
            "wgan": {"epochs": 1, "lr": 5e-4, "warmup_generator_steps": 0, "warmup_every": 0},
            "wgan-gp": {"epochs": 1, "lr": 5e-4},
            "bigan": {"epochs": 1, "lr": 5e-4}, "logan-b": {"epochs": 1, "lr": 5e-4},
        },
        # BiGAN and LOGAN-B, the slowest per iteration (31 and 41 ms against vanilla's 17 at quick's size), train 5 of
        # the 15 epochs on images: no image headline reads them (paper 003's claims are on the ring), and their 15
        # epochs under three seeds cost 35 of the profile's CPU minutes (issue 24)
        "standard": {
            "wgan": {"lr": 5e-4, "warmup_generator_steps": 0, "warmup_every": 0},
            "wgan-gp": {"lr": 5e-4}, "bigan": {"epochs": 5, "lr": 5e-4}, "logan-b": {"epochs": 5, "lr": 5e-4},
        },
        "full": {},
    },
    "points": {
        "quick": {
            "wgan": {"lr": 5e-4, "warmup_generator_steps": 0, "warmup_every": 0},
            "wgan-gp": {"lr": 1e-3}, "bigan": {"lr": 1e-3}, "logan-b": {"lr": 1e-3},
        },
        "standard": {
            "wgan": {"lr": 5e-4, "warmup_generator_steps": 0, "warmup_every": 0},
            "wgan-gp": {"lr": 1e-3}, "bigan": {"lr": 1e-3}, "logan-b": {"lr": 1e-3},
        },
        "full": {name: {"lr": 1e-3, "betas": [0.9, 0.999], "batch_size": 2048, "epochs": 100} for name in ("bigan", "logan-b")},
    },
}

CLASSIFIER_TRAINING = {
    # quick: one epoch of 25 000 of the 60 000 training images, at half the time (test accuracy of the CNN 0.814
    # against 0.873 on all of them, cold quick runs of 0.5.0)
    "quick": {"epochs": 1, "batch_size": 128, "lr": 1e-3, "n_train": 25000},
    "standard": {"epochs": 5, "batch_size": 128, "lr": 1e-3},
    "full": {"epochs": 50, "batch_size": 32, "lr": 1e-5},
}


#: The two evaluators of image samples, besides the profile's training (`CLASSIFIER_TRAINING`): the CNN every page
#: scores with, and a second, independently trained one of another architecture and seed, which scores the same
#: samples so that a ranking or verdict that depends on the feature network shows (issue 20).
EVALUATORS: dict[str, dict] = {"main": {"arch": "cnn-2x-128", "seed": 0}, "alt": {"arch": "mlp-512-128", "seed": 1}}

#: Per profile: the training seeds a run plans on every dataset when --seed is not given (else seed 0). A trained
#: network is one sample of its training, so anything compared between separately trained networks needs several:
#: `standard` and `full` train every generator under three seeds; `quick` keeps one (its pages issue no verdict).
SEEDS: dict[str, tuple[int, ...]] = {"standard": (0, 1, 2), "full": (0, 1, 2)}


def gan_config(modality: str, profile: str, *, family: str, dataset: str, prior: str, seed: int) -> dict:
    """The generator artifact config for a family trained on a dataset under a profile (resolved by `gan_spec`)."""
    return {"family": family, "dataset": dataset, "prior": prior, "seed": seed, **GAN_TRAINING[modality][profile],
            "family_train": FAMILY_TRAINING[modality][profile].get(family, {})}
