"""The setfit family: losses, determinism, multi-label, save/load, and real learning.

Training runs here are tiny (a few steps of small batches on a real Banking77 slice) so
the file stays within a few minutes on 2 CPU cores; the one run that must show learning
is marked slow.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from whichmodel.errors import SettingError
from whichmodel.models import sentence_body as sentence_body_module
from whichmodel.models import training as training_module
from whichmodel.models.registry import build_classifier, load_model
from whichmodel.models.sentence_body import TokenizedTexts
from whichmodel.models.setfit import SetFitClassifier
from whichmodel.models.setfit.contrastive_losses import (
    batch_hard_triplet_loss,
    contrastive_loss,
    cosine_pair_loss,
    similarity_targets,
    supervised_contrastive_loss,
)
from whichmodel.models.setfit.heads import fit_linear_head, head_loss

# A few steps of small batches: enough to move the body, cheap on 2 cores.
TINY = {"num_epochs": 0.5, "batch_size": 16, "progress_bar": False}


@pytest.fixture(scope="module")
def slice_data(banking77_slice):
    train, test = banking77_slice["train_df"], banking77_slice["test_df"]
    return list(train.text), list(train.category), list(test.text), list(test.category)


@pytest.fixture(scope="module")
def tiny_model(slice_data):
    texts, labels, _, _ = slice_data
    return SetFitClassifier(seed=3, **TINY).fit(texts, labels)


# -- losses ------------------------------------------------------------------------------
def test_similarity_targets_single_and_multi_label():
    same = similarity_targets(torch.tensor([0, 1, 0]))
    assert same.tolist() == [[True, False, True], [False, True, False], [True, False, True]]
    multi = similarity_targets(torch.tensor([[1, 0], [1, 1], [0, 1], [0, 0], [0, 0]]))
    assert multi[0, 1] and multi[1, 2] and not multi[0, 2]   # overlap, not identity
    assert multi[3, 4] and not multi[0, 3]                    # empty sets are alike


def test_losses_ignore_self_pairs_and_reach_zero_when_perfect():
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    similar = similarity_targets(torch.tensor([0, 0, 1, 1]))
    assert cosine_pair_loss(emb, similar).item() == pytest.approx(0.0, abs=1e-7)
    assert batch_hard_triplet_loss(emb, similar).item() == pytest.approx(0.0, abs=1e-7)
    # The diagonal would add log-probability mass if it were not excluded.
    assert supervised_contrastive_loss(emb, similar).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_supcon_matches_a_hand_computed_case(temperature):
    # cos(0,1) = 0.6, cos(0,2) = 0, cos(1,2) = 0.8; labels 0, 0, 1: anchors 0 and 1 each
    # have one positive; anchor 2 has none and is left out of the mean.
    emb = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    similar = similarity_targets(torch.tensor([0, 0, 1]))
    t = temperature
    anchor0 = -math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + math.exp(0.0)))
    anchor1 = -math.log(math.exp(0.6 / t) / (math.exp(0.6 / t) + math.exp(0.8 / t)))
    loss = contrastive_loss("supcon", emb, similar, temperature=t)
    assert loss.item() == pytest.approx((anchor0 + anchor1) / 2, rel=1e-5)


@pytest.mark.parametrize("name", ["cosine", "supcon", "triplet"])
def test_losses_give_gradients(name):
    emb = torch.randn(8, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
    loss = contrastive_loss(name, emb, similarity_targets(torch.tensor([0, 0, 1, 1] * 2)))
    loss.backward()
    assert torch.isfinite(loss) and emb.grad.abs().sum() > 0


def test_unknown_loss_names_the_choices():
    with pytest.raises(ValueError, match="cosine, supcon, triplet"):
        contrastive_loss("nope", torch.zeros(2, 2), torch.ones(2, 2, dtype=torch.bool))


# -- settings ----------------------------------------------------------------------------
def test_constructible_from_plain_settings():
    model = build_classifier("setfit", num_epochs=3, loss="supcon", seed=5)
    assert isinstance(model, SetFitClassifier)
    params = model.get_params()
    assert params["num_epochs"] == 3 and params["loss"] == "supcon" and params["seed"] == 5
    json.dumps(params)  # settings round-trip through whichmodel.json
    # The documented meaning of the one knob. By default ("auto") round(256·√n / batch)
    # steps, which grows like √n: 4·√n at batch 64, the same sentences at other batches.
    auto = SetFitClassifier()
    assert auto.num_epochs == "auto"
    assert [auto.n_steps(n) for n in (40, 616, 4928, 50_000)] == [25, 99, 281, 894]
    assert SetFitClassifier(batch_size=128).n_steps(616) == 50
    # A number: round(num_epochs × n / batch_size) steps, whole passes over the data.
    assert SetFitClassifier(num_epochs=10, batch_size=64).n_steps(616) == 96
    assert SetFitClassifier(num_epochs=0).n_steps(616) == 0
    assert SetFitClassifier(num_epochs=0.01).n_steps(10) == 1


def test_bad_settings_fail_at_fit_with_the_choices(slice_data):
    texts, labels, _, _ = slice_data
    with pytest.raises(SettingError, match="logistic, linear"):
        SetFitClassifier(head="forest", **TINY).fit(texts, labels)
    with pytest.raises(SettingError, match="end_to_end_epochs must be a whole number"):
        SetFitClassifier(end_to_end_epochs=0.5, **TINY).fit(texts, labels)
    with pytest.raises(SettingError, match="temperature must be a number > 0"):
        SetFitClassifier(temperature=0, **TINY).fit(texts, labels)
    with pytest.raises(SettingError, match='num_epochs must be "auto" or a number ≥ 0'):
        SetFitClassifier(**{**TINY, "num_epochs": "lots"}).fit(texts, labels)


def test_auto_precision_needs_bf16_instructions_on_x86(monkeypatch):
    monkeypatch.setattr(sentence_body_module.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(sentence_body_module, "cpu_flags", lambda: {"avx512f", "avx512bw"})
    assert not sentence_body_module.native_bf16("cpu")  # AVX512 alone: oneDNN would emulate
    monkeypatch.setattr(sentence_body_module, "cpu_flags", lambda: {"avx512bw", "avx512_bf16"})
    assert sentence_body_module.native_bf16("cpu")
    assert not sentence_body_module.native_bf16("mps")


def test_tokenising_honours_the_backbones_lower_case_flag(tiny_model, monkeypatch):
    monkeypatch.setattr(tiny_model.body_[0], "do_lower_case", True)
    assert tiny_model._sentence_body.cased(["Card ARRIVED?"]) == ["card arrived?"]
    monkeypatch.setattr(tiny_model.body_[0], "do_lower_case", False)
    assert tiny_model._sentence_body.cased(["Card ARRIVED?"]) == ["Card ARRIVED?"]


def test_tokenized_texts_pad_to_the_longest_row():
    ids = TokenizedTexts.from_lists([[5, 6, 7], [8], [9, 10]], pad_id=0)
    input_ids, mask = ids.padded(np.array([1, 2]))
    assert input_ids.tolist() == [[8, 0], [9, 10]]
    assert mask.tolist() == [[1, 0], [1, 1]]
    assert ids.flat.dtype == np.int32 and len(ids) == 3


# -- training behaviour ------------------------------------------------------------------
def test_same_seed_same_model_and_other_seed_differs(slice_data, tiny_model):
    texts, labels, test_texts, _ = slice_data
    torch.manual_seed(999)  # a different global state: only the model's seed may matter
    np.random.seed(999)
    again = SetFitClassifier(seed=3, **TINY).fit(texts, labels)
    np.testing.assert_array_equal(again.predict_proba(test_texts),
                                  tiny_model.predict_proba(test_texts))
    other = SetFitClassifier(seed=4, **TINY).fit(texts, labels)
    assert not np.array_equal(other.embed(test_texts[:5]), tiny_model.embed(test_texts[:5]))


@pytest.mark.parametrize("objective", ["contrastive", "head", "multi-label head"])
def test_gradient_caching_gives_the_plain_gradients(slice_data, monkeypatch, objective):
    """Chunk-by-chunk back-propagation on replayed dropout masks: same loss, gradients, RNG.

    Both stages' losses: the contrastive one, and the end-to-end stage's head + (binary)
    cross-entropy (`head_loss`), whose layer gets its gradients from the cached embeddings."""
    texts, labels, _, _ = slice_data
    monkeypatch.setattr(sentence_body_module, "CHUNK_TOKENS", 128)  # several chunks a batch
    model = SetFitClassifier(precision="fp32", progress_bar=False)
    model._load_body(model.backbone)
    body = model._sentence_body
    ids, rows = body.tokenize(texts[:48]), np.arange(48)
    assert len(body.chunks(ids, rows)) >= 3
    classes = torch.as_tensor(np.unique(labels[:48], return_inverse=True)[1])
    similar = similarity_targets(classes)
    torch.manual_seed(0)
    with torch.no_grad():
        width = body.forward(ids, rows[:1]).shape[1]
    layer = torch.nn.Linear(width, int(classes.max()) + 1)
    multi_hot = torch.nn.functional.one_hot(classes).float()

    def loss_of(embeddings):
        if objective == "head":
            return head_loss(layer(embeddings), classes, multi_label=False)
        if objective == "multi-label head":
            return head_loss(layer(embeddings), multi_hot, multi_label=True)
        return contrastive_loss("supcon", embeddings, similar, temperature=0.05)

    def gradients() -> dict:
        named = [*model.body_.named_parameters(), *layer.named_parameters(prefix="layer")]
        return {n: p.grad.clone() for n, p in named if p.grad is not None}

    model.body_.train()  # dropout on: the masks must be replayed exactly
    torch.manual_seed(0)
    plain_loss = loss_of(body.forward(ids, rows))
    plain_loss.backward()
    plain = gradients()
    plain_next = torch.rand(3)
    torch.manual_seed(0)
    assert not torch.equal(torch.rand(3), plain_next)  # dropout did draw from the RNG
    model.body_.zero_grad(set_to_none=True)
    layer.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    cached_loss = body.cached_backward(ids, rows, loss_of)
    cached = gradients()
    assert torch.equal(torch.rand(3), plain_next)  # the RNG ends where a plain step leaves it
    assert cached_loss == pytest.approx(plain_loss.item(), rel=1e-5)
    assert cached.keys() == plain.keys()
    assert ("layer.weight" in plain) == objective.endswith("head")
    for name, grad in plain.items():
        torch.testing.assert_close(cached[name], grad, rtol=1e-3, atol=1e-6, msg=name)
    # When it is used: by the batch's token count (48 short queries stay under 4,096).
    assert not body.uses_gradient_cache(ids, rows)
    model.gradient_cache_tokens = 100
    assert model._sentence_body.uses_gradient_cache(ids, rows)
    model.gradient_cache_tokens = 0
    assert not model._sentence_body.uses_gradient_cache(ids, rows)
    # A batch with nothing to score (all labels differ: no positives) is a zero step.
    model.body_.zero_grad(set_to_none=True)
    distinct = similarity_targets(torch.arange(8))
    assert body.cached_backward(ids, rows[:8], lambda e: contrastive_loss(
        "supcon", e, distinct, temperature=0.05)) == 0.0
    assert all(p.grad is None for p in model.body_.parameters())


def test_a_fit_with_gradient_caching_learns_the_same(slice_data, tiny_model):
    texts, labels, test_texts, _ = slice_data
    cached = SetFitClassifier(seed=3, gradient_cache_tokens=1, **TINY).fit(texts, labels)
    assert cached.log_["steps"] == tiny_model.log_["steps"]
    frozen = SetFitClassifier(num_epochs=0, progress_bar=False).fit(texts, labels)
    sample = test_texts[:20]
    np.testing.assert_allclose(cached.embed(sample), tiny_model.embed(sample), atol=2e-2)
    moved = np.abs(tiny_model.embed(sample) - frozen.embed(sample)).max()
    assert moved > 5 * np.abs(cached.embed(sample) - tiny_model.embed(sample)).max()


def test_fit_leaves_the_global_torch_rng_alone(slice_data):
    texts, labels, _, _ = slice_data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SetFitClassifier(num_epochs=0, progress_bar=False).fit(texts[:20], labels[:20])
    assert torch.equal(torch.rand(3), expected)


def test_predict_follows_proba_columns(slice_data, tiny_model):
    _, _, test_texts, _ = slice_data
    proba = tiny_model.predict_proba(test_texts[:30])
    assert proba.shape == (30, len(tiny_model.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert tiny_model.predict(test_texts[:30]) == [tiny_model.classes_[i]
                                                   for i in proba.argmax(axis=1)]
    assert tiny_model.log_["steps"] == 5 and tiny_model.log_["pairs"] == 5 * 16 * 15 // 2


def test_multi_label_with_torch_head_and_end_to_end(slice_data, monkeypatch):
    texts, labels, test_texts, test_labels = slice_data
    # A second, overlapping label: every card intent also carries "card".
    multi = [[c, "card"] if "card" in c else [c] for c in labels]
    # fp32 and several chunks a batch, so that the gradient-cached twin below differs from
    # this one only in how each step back-propagates.
    monkeypatch.setattr(sentence_body_module, "CHUNK_TOKENS", 64)
    settings = {"head": "linear", "head_epochs": 20, "end_to_end_epochs": 1,
                "precision": "fp32", **TINY}
    model = SetFitClassifier(**settings).fit(texts, multi)
    assert model.multi_label_ and "card" in model.classes_
    proba = model.predict_proba(test_texts[:40])
    assert proba.shape == (40, len(model.classes_))
    predicted = model.predict(test_texts[:40])
    assert predicted == [[c for c, p in zip(model.classes_, row) if p >= 0.5] for row in proba]
    assert model.log_["end_to_end_steps"] == 10
    truth = [{c, "card"} if "card" in c else {c} for c in test_labels[:40]]
    tp = sum(len(set(p) & t) for p, t in zip(predicted, truth))
    wrong = sum(len(set(p) ^ t) for p, t in zip(predicted, truth))
    assert 2 * tp / (2 * tp + wrong) > 0.85  # micro-F1: the linear head and the end-to-end
                                             # stage learn, not merely agree with each other
    # Trained twice (contrastive, then end to end), yet it keeps no training state.
    assert all(p.grad is None for p in model.body_.parameters())
    assert not model.body_.training
    # Both stages gradient-cached (every batch is over 1 token): the same model, to rounding.
    cached_steps = []
    original = sentence_body_module.SentenceBody.cached_backward

    def counted(self, *args, **kwargs):
        cached_steps.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sentence_body_module.SentenceBody, "cached_backward", counted)
    cached = SetFitClassifier(gradient_cache_tokens=1, **settings).fit(texts, multi)
    assert len(cached_steps) == cached.log_["steps"] + cached.log_["end_to_end_steps"] == 15
    np.testing.assert_allclose(cached.predict_proba(test_texts[:40]), proba, atol=1e-3)
    # The bodies, compared by what they compute: weights with no true gradient (attention
    # key biases) take AdamW steps of pure rounding noise, differently in each run.
    np.testing.assert_allclose(cached.embed(test_texts[:40]), model.embed(test_texts[:40]),
                               atol=1e-3)


def test_multi_label_default_head_learns_and_survives_a_fresh_process(
        slice_data, tmp_path, fresh_process_predict):
    texts, labels, test_texts, test_labels = slice_data
    multi = [[c, "card"] if "card" in c else [c] for c in labels]
    truth = [{c, "card"} if "card" in c else {c} for c in test_labels]
    model = SetFitClassifier(**TINY).fit(texts, multi)  # logistic head, one-vs-rest
    predicted = [set(p) for p in model.predict(test_texts)]
    tp = sum(len(p & t) for p, t in zip(predicted, truth))
    wrong = sum(len(p ^ t) for p, t in zip(predicted, truth))
    assert 2 * tp / (2 * tp + wrong) > 0.85  # micro-F1 (measured 0.97)
    loaded_labels, proba = fresh_process_predict(model.save(tmp_path / "m"), test_texts[:20])
    assert [sorted(x) for x in loaded_labels] == [sorted(x) for x in model.predict(test_texts[:20])]
    np.testing.assert_allclose(proba, model.predict_proba(test_texts[:20]), atol=1e-6)


def test_early_stopping_restores_the_best_body(slice_data, monkeypatch):
    texts, labels, test_texts, test_labels = slice_data
    eval_texts, eval_labels = test_texts[:50], test_labels[:50]
    train_passes = []
    embed = sentence_body_module.SentenceBody.embed

    def counted(self, ids, batch_size):
        if len(ids) == len(texts):
            train_passes.append(1)
        return embed(self, ids, batch_size)

    monkeypatch.setattr(sentence_body_module.SentenceBody, "embed", counted)
    snapshots = []  # taken at step 0 and at every improvement: the last one is the best
    snapshot = training_module.snapshot

    def recorded(module):
        snapshots.append(snapshot(module))
        return snapshots[-1]

    monkeypatch.setattr(training_module, "snapshot", recorded)
    model = SetFitClassifier(num_epochs=1, batch_size=16, early_stopping_patience=1,
                             progress_bar=False).fit(texts, labels, eval_texts=eval_texts,
                                                     eval_labels=eval_labels)
    log = model.log_
    # It stopped early, after at least one step past the best evaluation...
    assert log["best_step"] < log["steps"] < model.n_steps(len(texts))
    # ...and those steps were undone: the body is the best snapshot, weight for weight.
    kept = model.body_.state_dict()
    assert all(torch.equal(kept[name], value) for name, value in snapshots[-1].items())
    assert log["evaluations"][0]["step"] == 0  # the untuned body is scored first
    assert log["best_step"] in [e["step"] for e in log["evaluations"]]
    best = max(e["score"] for e in log["evaluations"])
    assert [e["score"] for e in log["evaluations"] if e["step"] == log["best_step"]] == [best]
    # The head is the best evaluation's: one train pass per evaluation, none more...
    assert len(train_passes) == len(log["evaluations"])
    # ...and it belongs to the kept body: a head refitted on fresh embeddings agrees.
    refit = model._fit_head(model.embed(texts), model._encode(labels))
    np.testing.assert_allclose(refit.proba(model.embed(eval_texts)),
                               model.predict_proba(eval_texts), atol=1e-6)
    # The body it kept scores exactly that best score again.
    rescored, _ = model._evaluation_score(model._tokenize(texts), model._encode(labels),
                                          model._tokenize(eval_texts),
                                          model._encode(eval_labels))
    assert rescored == pytest.approx(best, abs=1e-5)


def test_linear_head_leaves_the_global_torch_rng_alone():
    features = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    fit_linear_head(features, np.arange(20) % 2, multi_label=False, n_classes=2, epochs=2)
    assert torch.equal(torch.rand(3), expected)


def test_save_and_load_in_a_fresh_process(slice_data, tiny_model, tmp_path,
                                         fresh_process_predict):
    _, _, test_texts, _ = slice_data
    texts = test_texts[:25]
    tiny_model.save(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").rglob("*")}
    assert {"whichmodel.json", "head.safetensors", "head.json", "model.safetensors"} <= files
    assert not any(name.endswith((".pkl", ".pickle", ".joblib", ".bin")) for name in files)
    labels, proba = fresh_process_predict(tmp_path / "m", texts)
    assert labels == tiny_model.predict(texts)
    np.testing.assert_allclose(proba, tiny_model.predict_proba(texts), atol=1e-6)
    assert type(load_model(tmp_path / "m")).__name__ == "SetFitClassifier"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_model_saved_for_cuda_loads_on_the_cpu(slice_data, tiny_model, tmp_path):
    _, _, test_texts, _ = slice_data
    tiny_model.save(tmp_path / "m")
    meta_file = tmp_path / "m" / "whichmodel.json"
    meta = json.loads(meta_file.read_text())
    meta["settings"]["device"] = "cuda"  # as if trained on a GPU machine
    meta_file.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="not available here; using the CPU"):
        loaded = load_model(tmp_path / "m")
    assert loaded.body_.device.type == "cpu"
    np.testing.assert_allclose(loaded.predict_proba(test_texts[:10]),
                               tiny_model.predict_proba(test_texts[:10]), atol=1e-6)


@pytest.mark.slow
def test_beats_the_frozen_baseline_on_banking77_at_8_per_class(banking77):
    """The defaults, 8 labels of each of the 77 intents (seed 1, the benchmark's sample),
    scored on the whole test set (3,080 rows): contrastive tuning must beat frozen
    embeddings + logistic regression by at least 15 rows. Measured: +28 rows with bf16
    autocast, +29 in fp32 (0.859 vs 0.850); seeds 1-3 are in BENCHMARKS.md. A 10-intent
    slice is too small to show it (it once passed by 2 rows of 100)."""
    from whichmodel.data import few_shot_sample, load_dataset

    train = load_dataset(banking77 / "train.csv", "text", "category")
    test = load_dataset(banking77 / "test.csv", "text", "category")
    sample = few_shot_sample(train, shots=8, seed=1)
    truth = np.array(test.labels)

    def correct(model):
        return int((np.array(model.predict(test.texts)) == truth).sum())

    frozen = correct(build_classifier("embedding", seed=1).fit(sample.texts, sample.labels))
    tuned = correct(SetFitClassifier(progress_bar=False, seed=1).fit(sample.texts,
                                                                      sample.labels))
    assert tuned >= frozen + 15, (tuned, frozen, len(truth))
