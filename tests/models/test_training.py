"""The shared torch loop (`whichmodel.models.training`) on a toy model: schedule, when it
evaluates, early stopping that restores the best weights exactly, and seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from whichmodel.models import training


def test_warm_up_then_linear_decay():
    factor = training.warmup_then_decay(10, 0.3)  # 3 warm-up steps
    assert [round(factor(s), 4) for s in range(11)] == [
        0.3333, 0.6667, 1.0, 1.0, 0.8571, 0.7143, 0.5714, 0.4286, 0.2857, 0.1429, 0.0]
    assert training.warmup_then_decay(10, 0.0)(0) == 1.0  # at least one warm-up step
    optimizer, schedule = training.adamw_with_warmup(
        [torch.nn.Parameter(torch.zeros(2))], steps=10, learning_rate=1e-3, warmup_ratio=0.3)
    assert optimizer.defaults["weight_decay"] == 0.01
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 / 3)


def test_evaluation_steps_are_spread_and_end_at_the_last():
    assert training.evaluation_steps(100) == {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
    assert training.evaluation_steps(3) == {1, 2, 3}
    assert training.evaluation_steps(1) == {1}


def test_evaluation_score_is_accuracy_or_micro_f1():
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    assert training.evaluation_score(proba, np.array([0, 1, 1]), multi_label=False) == \
        pytest.approx(2 / 3)
    truth = np.array([[1, 0], [1, 1], [0, 0]])
    # predicted at 0.5: {0}, {1}, {0}: tp 2, 3 predicted, 3 true -> 2·2 / 6
    assert training.evaluation_score(proba, truth, multi_label=True) == pytest.approx(4 / 6)
    assert list(training.scored_rows(np.array([0, -1, 2]), multi_label=False)) == [0, 2]


def run(scores, steps=6, patience=2, seed=0):
    """Train a linear layer (with dropout) for ``steps`` steps, ``scores`` scripting what
    each evaluation returns; returns (model, outcome, the weights each evaluation saw)."""
    with training.seeded_rng(seed):
        model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5))
        x, target = torch.randn(16, 4), torch.arange(16) % 3
        optimizer, schedule = training.adamw_with_warmup(
            model.parameters(), steps=steps, learning_rate=0.1, warmup_ratio=0.1)
        done = [0]  # steps taken
        seen = {}  # step -> the weights the evaluation after it scored
        script = iter(scores or ())

        def train_step(step):
            torch.nn.functional.cross_entropy(model(x), target).backward()
            done.append(step)

        def evaluate():
            seen[done[-1]] = training.snapshot(model)
            return next(script), f"kept at {done[-1]}"

        outcome = training.train_loop(model, steps, train_step, optimizer=optimizer,
                                      schedule=schedule,
                                      evaluate=None if scores is None else evaluate,
                                      patience=patience)
    return model, outcome, seen


def test_early_stopping_keeps_the_best_weights():
    # Evaluated before training and after each of the 6 steps; best after step 2, then
    # two evaluations without improvement (patience 2): stops after step 4.
    model, outcome, scored = run([0.2, 0.5, 0.7, 0.7, 0.6, 1.0, 1.0])
    assert outcome.steps == 4 and outcome.best_step == 2 and outcome.best == "kept at 2"
    assert [e["step"] for e in outcome.evaluations] == [0, 1, 2, 3, 4]
    assert [e["score"] for e in outcome.evaluations] == [0.2, 0.5, 0.7, 0.7, 0.6]
    kept = model.state_dict()
    assert all(torch.equal(kept[k], v) for k, v in scored[2].items())
    assert not all(torch.equal(kept[k], v) for k, v in scored[4].items())
    assert model.training  # left in training mode: the caller decides


def test_the_untrained_weights_win_when_training_only_hurts():
    model, outcome, scored = run([0.9, 0.5, 0.4], patience=2)
    assert outcome.best_step == 0 and outcome.steps == 2
    assert all(torch.equal(model.state_dict()[k], v) for k, v in scored[0].items())


def test_without_evaluation_every_step_runs_and_nothing_is_restored():
    model, outcome, _ = run(None)
    assert outcome.steps == 6 and outcome.best_step is None and not outcome.evaluations
    again, _, _ = run(None)
    assert all(torch.equal(again.state_dict()[k], v) for k, v in model.state_dict().items())
    other, _, _ = run(None, seed=1)
    assert not torch.equal(other[0].weight, model[0].weight)


def test_seeded_rng_leaves_the_callers_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with training.seeded_rng(0):
        inside = torch.rand(3)
    assert torch.equal(torch.rand(3), expected)
    with training.seeded_rng(0):
        assert torch.equal(torch.rand(3), inside)
