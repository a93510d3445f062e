"""Levers of generalization: mirrored training levels and the surroundings architecture in a
training run."""
from __future__ import annotations

import pytest

from ninjarl.sim.mirror import mirror_map
from ninjarl.train.ppo import resolve_levels, with_mirror_images


def test_mirror_adds_the_mirror_image_of_every_training_level():
    levels = resolve_levels("test/slopes")
    both = with_mirror_images(levels)
    n = len(levels.train)
    assert len(both.train) == 2 * n and both.train[:n] == levels.train
    assert both.train_categories == levels.train_categories * 2
    assert both.test == levels.test and both.test_categories == levels.test_categories
    for original, mirrored in zip(both.train[:n], both.train[n:]):
        assert mirrored.name == f"{original.name}~mirror"
        assert mirrored.map_data.raw == mirror_map(original.map_data.raw)
        assert mirrored.spawn == pytest.approx((1056 - original.spawn[0], original.spawn[1]))
        assert mirrored.map_data.raw != original.map_data.raw
