"""The batch augmenter: identity when switched off, an exact mirror for a flip, same draws for the same seed."""

from __future__ import annotations

import torch

from murad.data import IMAGENET_MEAN, IMAGENET_STD, BatchAugmenter


def batch() -> torch.Tensor:
    return torch.randint(0, 256, (4, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def test_no_rotation_no_flip_is_plain_normalisation():
    augmenter = BatchAugmenter(torch.device("cpu"), rotation_degrees=0, hflip=False)
    raw = batch()
    out = augmenter.augment(raw)
    expected = (
        raw.float().div(255).unsqueeze(1).expand(-1, 3, -1, -1) - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    ) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert out.shape == (4, 3, 16, 16)
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(augmenter.normaliser(raw), expected, atol=1e-5)


def test_flips_are_exact_mirrors_and_the_seed_fixes_the_draws():
    augmenter = BatchAugmenter(torch.device("cpu"), rotation_degrees=0, hflip=True, seed=3)
    raw = batch()
    out = augmenter.augment(raw)
    plain = augmenter.normaliser(raw)
    for i in range(4):
        assert torch.allclose(out[i], plain[i], atol=1e-5) or torch.allclose(out[i], plain[i].flip(-1), atol=1e-5)
    again = BatchAugmenter(torch.device("cpu"), rotation_degrees=30, seed=3).augment(raw)
    assert torch.equal(again, BatchAugmenter(torch.device("cpu"), rotation_degrees=30, seed=3).augment(raw))
