"""Figures that must stay readable when the demo's models crowd together."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import pandas as pd

from murad.figures import kappa_tradeoff


def test_kappa_tradeoff_labels_of_crowded_points_do_not_cover_each_other():
    # What an untrained demo gives: many models at kappa 0 with similar sizes and times, one model far right.
    names = [f"model_{i:02d}" for i in range(14)] + ["ensemble_top3_mean"]
    table3 = pd.DataFrame(
        {
            "model": names,
            "kappa": [0.0] * 12 + [-0.05, 0.7, 0.4],
            "kappa_low": [0.0] * 12 + [-0.2, 0.6, 0.3],
            "kappa_high": [0.0] * 12 + [0.1, 0.8, 0.5],
            "params_millions": [20 + i for i in range(12)] + [21.0, 140.0, 30.0],
            "training_minutes": [0.3 + 0.01 * i for i in range(12)] + [0.31, 9.0, 10.0],
        }
    )
    figure = kappa_tradeoff(table3)
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:
        labels = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
        assert sorted(labels) == sorted(names[:-1])  # every model named, ensembles left out
        for (a, box_a), (b, box_b) in itertools.combinations(labels.items(), 2):
            assert not box_a.overlaps(box_b), (a, b)
        right = ax.get_window_extent(renderer).x1
        assert all(box.x1 <= right for box in labels.values())
    plt.close(figure)
