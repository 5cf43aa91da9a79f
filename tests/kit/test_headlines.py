"""The papers' headlines as computed verdicts: crafted results whose verdicts are known (agree, disagree, undecided)."""
import numpy as np
import pytest

from lvrbench.kit import headlines
from lvrbench_plugins import generation, recovery_real, recovery_synthetic, sampling
from lvrbench.kit.headlines import AGREE, DISAGREE, UNDECIDED


def est(value, low, high, n=500):
    return {"value": value, "low": low, "high": high, "n": n}


@pytest.mark.parametrize("diffs, lower, expected", [
    ([est(0.1, 0.05, 0.15)], False, AGREE), ([est(0.1, 0.05, 0.15)], True, DISAGREE),
    ([est(0.0, -0.05, 0.05)], False, UNDECIDED), ([est(-0.1, -0.15, -0.05)], True, AGREE),
    # two seeds: the hull [-0.15, 0.02] holds 0
    ([est(-0.1, -0.15, -0.05), est(-0.01, -0.04, 0.02)], True, UNDECIDED),
])
def test_paired_verdict(diffs, lower, expected):
    assert headlines.paired_verdict(diffs, lower) == expected


def test_all_of():
    assert headlines.all_of([AGREE, AGREE]) == AGREE
    assert headlines.all_of([AGREE, UNDECIDED]) == UNDECIDED
    assert headlines.all_of([AGREE, UNDECIDED, DISAGREE]) == DISAGREE
    assert headlines.all_of([]) == UNDECIDED


def test_generation_headlines_agree_and_disagree():
    fid = {"hinge": [est(20, 18, 22)], "san": [est(19, 17, 21)], "vanilla": [est(40, 37, 43)], "wgan": [est(50, 45, 55)],
           "gm-gan": [est(30, 28, 32)]}
    assert generation.paper_headlines("fashion-mnist", fid) == [
        "- paper 002: fashion-mnist: hinge and SAN reach a lower FID than vanilla and WGAN (Figs. 4, 6, 10 on MNIST: "
        "hinge 22.08, SAN 19.04, vanilla 44.12, WGAN 89.84): **agrees**. Ours: "
        "FID hinge 20.0 [18.0, 22.0] vs vanilla 40.0 [37.0, 43.0] (agree); FID hinge 20.0 [18.0, 22.0] vs wgan 50.0 "
        "[45.0, 55.0] (agree); FID san 19.0 [17.0, 21.0] vs vanilla 40.0 [37.0, 43.0] (agree); FID san 19.0 [17.0, "
        "21.0] vs wgan 50.0 [45.0, 55.0] (agree).",
        "- paper 004: fashion-mnist: GM-GAN has the lowest FID of the families (Table 1 on MNIST: GM-GAN 18.56, "
        "W-GAN-GP 40.78, vanilla 63.99): **disagrees**. Ours: FID gm-gan 30.0 [28.0, 32.0] vs hinge 20.0 [18.0, 22.0] "
        "(disagree); FID gm-gan 30.0 [28.0, 32.0] vs san 19.0 [17.0, 21.0] (disagree); FID gm-gan 30.0 [28.0, 32.0] "
        "vs vanilla 40.0 [37.0, 43.0] (agree); FID gm-gan 30.0 [28.0, 32.0] vs wgan 50.0 [45.0, 55.0] (agree)."]


def test_sampling_headline_undecided_over_seeds():
    ours = {("vanilla", "drs"): {"fid": [est(-1.5, -2.0, -1.0), est(-0.5, -1.0, 0.2)]}}
    assert sampling.paper_headlines("fashion-mnist", ours)[0] == (
        "- paper 004: fashion-mnist: DRS improves vanilla's FID on direct sampling (Table 1 on MNIST: 63.99 → 38.49): "
        "**undecided at this sample size**. Ours: Δ FID (vanilla) drs − direct [-2.00, 0.200] (2 seeds' hull) (undecided).")


def outcomes(correct: int, n: int = 500, start: int = 0) -> dict[int, dict]:
    """One seed's cross-fitted outcomes: images start .. start + correct - 1 of n right."""
    i = np.arange(n)
    return {0: {"correct": ((i >= start) & (i < start + correct)).astype(float)}}


def test_paper_000_headlines_each_verdict():
    # wasserstein against none: 15 images only it gets right, 10 only none gets right: no decision at 500 images
    normal = {"none": outcomes(250), "bhattacharyya": outcomes(450), "wasserstein": outcomes(255, start=10),
              "trick-discriminator": outcomes(100)}
    lines = recovery_real.paper_000_headlines("fashion-mnist / lsgan", "normal", normal)
    assert [line.split("**")[1] for line in lines] == ["agrees", "undecided at this sample size", "agrees"]
    assert lines[0].startswith("- paper 000: fashion-mnist / lsgan, N(0, 1) prior: bhattacharyya gives the best "
                               "accuracy (§3): **agrees**. Ours: Δ accuracy bhattacharyya − none 0.400 [")
    uniform = {"none": outcomes(300), "lukaszyk-karmowski": outcomes(200), "energy": outcomes(400)}
    lines = recovery_real.paper_000_headlines("fashion-mnist / lsgan", "uniform", uniform)
    assert [line.split("**")[1] for line in lines] == ["disagrees", "disagrees"]
    assert "lukaszyk-karmowski gives the best accuracy" in lines[0] and "trick" not in " ".join(lines)


def synthetic(method: str, errors: list[float]) -> dict:
    return {"config": {"task": "recovery-synthetic", "dataset": "fashion-mnist", "method": method, "seed": 0,
                       "hparams": {"lr": 0.05}, "plugins": {"method": "x"}, "settings": {}}, "extra": {"errors": errors}, "id": method}


def test_paper_001_headlines():
    n = 100
    rows = [synthetic("none", [1.0] * n), synthetic("logistic-cutoff", [0.1] * n), synthetic("hard-cutoff", [1.0] * n),
            synthetic("truncated-normal-cutoff", [0.5] * n), synthetic("z-score-square", [0.05] * n)]
    assert recovery_synthetic.paper_001_headlines("fashion-mnist / lsgan", rows) == [
        # hard-cutoff ties none on every latent: the claim that every criterion beats none is undecided
        "- paper 001: fashion-mnist / lsgan: every resampling criterion beats `disabled` (`none`) on mean error "
        "(§4.2.3): **undecided at this sample size**. Ours: Δ mean error hard-cutoff − none 0.00 [0.00, 0.00] "
        "(undecided); Δ mean error logistic-cutoff − none -0.900 [-0.900, -0.900] (agree); Δ mean error "
        "truncated-normal-cutoff − none -0.500 [-0.500, -0.500] (agree).",
        "- paper 001: fashion-mnist / lsgan: logistic-cutoff has the lowest mean error of the criteria and `disabled` "
        "(Table 1: logistic(2, 2) 0.162 against disabled 0.864; lowest of every method here: z-score-square, 0.0500): "
        "**agrees**. Ours: Δ mean error logistic-cutoff − hard-cutoff -0.900 [-0.900, -0.900] (agree); Δ mean error "
        "logistic-cutoff − truncated-normal-cutoff -0.400 [-0.400, -0.400] (agree); Δ mean error logistic-cutoff − "
        "none -0.900 [-0.900, -0.900] (agree)."]


def test_reconstruction_headline_in_page_order():
    """LOGAN-B ≪ GAN < BiGAN: each step by interval separation (separately trained generators)."""
    post = {"logan-b": [est(0.05, 0.04, 0.06)], "vanilla": [est(0.3, 0.2, 0.4)], "bigan": [est(0.35, 0.25, 0.45)]}
    compared = [headlines.separated(a, b, post, True, "post hoc L1") for a, b in (("logan-b", "vanilla"), ("vanilla", "bigan"))]
    assert [c.verdict for c in compared] == [AGREE, UNDECIDED]
    assert headlines.headline("paper 003", "ring8: claim", compared) == (
        "- paper 003: ring8: claim: **undecided at this sample size**. Ours: post hoc L1 logan-b 0.0500 [0.0400, "
        "0.0600] vs vanilla 0.300 [0.200, 0.400] (agree); post hoc L1 vanilla 0.300 [0.200, 0.400] vs bigan 0.350 "
        "[0.250, 0.450] (undecided).")
    assert headlines.headline("paper 003", "ring8: claim", []) == (
        "- paper 003: ring8: claim: **not run** (no results for the methods it compares).")
