"""Training settings the tasks share, per profile: one generator artifact serves every task that asks for it.

`full` follows paper 000 §2 (Adam 1e-5, 200 epochs, batch 32 for the GAN; 50 epochs for the
classifier) with d_z = 256 on a DCGAN-style architecture: the paper names the loss (LSGAN),
the latent size and the optimiser but no architecture, so the architecture is lvrbench's choice
(`lvrbench/networks.py`), shared by every family. `quick` trains a small fully connected
GAN for a few epochs so that `lvrbench run --all` finishes in minutes on two CPU cores, with
d_z = 16: three epochs leave a d_z = 256 generator flat along most latent directions (at a
random z, 42 of the 256 singular values of its Jacobian exceed 1% of the largest), so z_true
could not be recovered by any method and `recovery-synthetic` would compare nothing.
"""
from __future__ import annotations

GAN_TRAINING = {
    "image": {
        "quick": {"arch": "mlp", "latent_dim": 16, "train": {"epochs": 3, "batch_size": 128, "lr": 3e-4, "betas": [0.5, 0.999]}},
        "full": {"arch": "dcgan", "latent_dim": 256, "train": {"epochs": 200, "batch_size": 32, "lr": 1e-5, "betas": [0.9, 0.999]}},
    },
    "points": {
        "quick": {"arch": "mlp", "latent_dim": 16, "train": {"epochs": 40, "batch_size": 256, "lr": 1e-3, "betas": [0.5, 0.999]}},
        "full": {"arch": "mlp", "latent_dim": 16, "train": {"epochs": 200, "batch_size": 256, "lr": 1e-3, "betas": [0.5, 0.999]}},
    },
}

#: Per profile and family: replacements for the family's declared training settings (`Family.training`).
#: `full` keeps every family's declaration (the papers' settings).
FAMILY_TRAINING: dict[str, dict[str, dict]] = {"quick": {}, "full": {}}

CLASSIFIER_TRAINING = {
    "quick": {"epochs": 1, "batch_size": 128, "lr": 1e-3},
    "full": {"epochs": 50, "batch_size": 32, "lr": 1e-5},
}


def gan_config(modality: str, profile: str, *, family: str, dataset: str, prior: str, seed: int) -> dict:
    """The generator artifact config for a family trained on a dataset under a profile (resolved by `gan_spec`)."""
    return {"family": family, "dataset": dataset, "prior": prior, "seed": seed, **GAN_TRAINING[modality][profile],
            "family_train": FAMILY_TRAINING[profile].get(family, {})}
