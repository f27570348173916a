"""Why training is hard: the backward pass is linear, so gradients vanish or explode with time."""
from __future__ import annotations

import numpy as np
import pytest

import models


def _tanh_net(scale: float) -> models.ElmanRNN:
    # h0 = 0 and zero input keep the units at the centre of tanh (slope 1): what is left of the
    # backward pass is the recurrent weight matrix, applied once per step.
    return models.ElmanRNN(1, 8, 1, activation="tanh", output="linear", h0=0.0, recurrent_scale=scale, seed=0)


@pytest.mark.parametrize("scale", [0.5, 2.0, 3.0])
def test_gradient_changes_geometrically_by_the_recurrent_gain(scale):
    net = _tanh_net(scale)
    norms = models.gradient_flow(net, np.zeros((30, 1, 1)))
    factor = models.growth_per_step(norms)
    radius = np.max(np.abs(np.linalg.eigvals(net["W_hh"].value)))
    assert factor == pytest.approx(radius, rel=0.05)  # the spectral radius sets the rate
    log = np.log(norms)
    assert np.all(np.diff(log[:-5]) * np.sign(1 - factor) > 0)  # monotone with distance in time


def test_small_weights_vanish_and_large_weights_explode():
    small = models.gradient_flow(_tanh_net(0.5), np.zeros((30, 1, 1)))
    large = models.gradient_flow(_tanh_net(3.0), np.zeros((30, 1, 1)))
    assert small[0] < 1e-6 * small[-1]
    assert large[0] > 1e6 * large[-1]


def test_logistic_units_shrink_gradients_by_at_most_a_quarter_per_unit_gain():
    net = models.ElmanRNN(1, 8, 1, activation="logistic", output="linear", recurrent_scale=1.0, seed=0)
    norms = models.gradient_flow(net, np.zeros((30, 1, 1)))
    smax = np.linalg.norm(net["W_hh"].value, 2)
    assert models.growth_per_step(norms) <= smax / 4 + 1e-9  # Pascanu et al.: gamma = 1/4


def test_lstm_cell_keeps_its_gradient_over_distance():
    x = np.zeros((30, 1, 1))
    lstm = models.LSTM(1, 8, 1, forget_bias=3.0, init_scale=0.1, seed=0)
    norms = models.gradient_flow(lstm, x)
    elman = models.gradient_flow(models.ElmanRNN(1, 8, 1, activation="logistic", output="linear", seed=0), x)
    assert norms[0] / norms[-1] > 0.1  # the keep gate passes the error back nearly unchanged
    assert 0.9 < models.growth_per_step(norms) < 1.1
    assert elman[0] / elman[-1] < 1e-10


def test_growth_per_step_needs_data():
    with pytest.raises(ValueError, match="two finite"):
        models.growth_per_step([0.0, 1.0])
