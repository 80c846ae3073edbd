"""The llm family without a model: prompts, shot selection, answer matching, logprob
probabilities, settings, zero-shot fit and the saved folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from made_up_keys import made_up_key

from whichmodel.errors import DataError, SettingError
from whichmodel.models.base import build_classifier, load_model
from whichmodel.models.llm import LLMClassifier
from whichmodel.models.llm.answers import label_probabilities, match_label
from whichmodel.models.llm.prompt import (
    DEFAULT_TEMPLATE,
    Shot,
    check_template,
    nearest_shots,
    random_shots,
    render_labels,
    render_prompt,
)

CLASSES = ["card_arrival", "card_linking", "exchange_rate", "Refund"]


# -- prompts --------------------------------------------------------------------------------
def test_the_prompt_has_task_labels_with_descriptions_examples_and_the_text_last():
    labels = render_labels(["a", "b"], {"b": "the second"})
    text = render_prompt(DEFAULT_TEMPLATE, task="Sort it.", labels_block=labels,
                         shots=[Shot("first\nline", "a")], text="hello {world}")
    assert text.startswith("Sort it.\n")
    assert "- a\n- b: the second" in text
    assert "Text: first line\nLabel: a" in text  # an example's line breaks flattened
    assert text.index("Examples:") < text.index("Text: hello {world}")


@pytest.mark.parametrize("template, problem", [
    ("no text here", "must contain {text}"),
    ("{text} {nope}", "unknown placeholder {nope}"),
    ("{text} {", "not a valid template"),
    ("", "must be a text"),
])
def test_a_bad_template_is_refused_in_one_line(template, problem):
    with pytest.raises(SettingError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        check_template(template)


def test_random_shots_are_seeded_and_spread_over_labels():
    pool = [Shot(f"{label}{i}", label) for label in "abc" for i in range(5)]
    first = random_shots(pool, 6, seed=3)
    assert first == random_shots(pool, 6, seed=3) != random_shots(pool, 6, seed=4)
    assert sorted(s.label for s in first) == ["a", "a", "b", "b", "c", "c"]
    assert random_shots(pool, 0, seed=0) == []


def test_nearest_shots_put_the_most_similar_example_last():
    pool = [Shot("x", "a"), Shot("y", "b"), Shot("z", "c")]
    vectors = np.eye(3, dtype=np.float32)
    item = np.array([[0.8, 0.6, 0.0]], dtype=np.float32)
    assert nearest_shots(pool, vectors, item, 2) == [[Shot("y", "b"), Shot("x", "a")]]


# -- answers --------------------------------------------------------------------------------
@pytest.mark.parametrize("answer, label", [
    ('{"label": "card_arrival"}', "card_arrival"),
    ('```json\n{"label": "exchange_rate"}\n```', "exchange_rate"),
    ("Card Arrival.", "card_arrival"),
    ("  refund ", "Refund"),
    ("Label: card-linking", "card_linking"),
    ('"Refund"', "Refund"),
    ('{"answer": "refund"}', "Refund"),
    ("the weather is nice", None),
    ("card", None),                       # a prefix of two labels: not guessed
    ("card_arrival or card_linking", None),
    ('{"label": "card_arr', None),        # cut off by max_tokens
    ("", None),
    (None, None),
])
def test_answers_match_a_label_exactly_or_after_normalising_never_by_guessing(answer, label):
    assert match_label(answer, CLASSES) == label


def _token(text, logprob, alternatives=()):
    return {"token": text, "logprob": logprob,
            "top_logprobs": [{"token": t, "logprob": lp} for t, lp in
                             [(text, logprob), *alternatives]]}


def test_logprobs_give_every_label_an_alternative_leads_to_its_share():
    # As llama.cpp reports them: a ```json fence in the tokens, not in the content.
    tokens = [_token("```json\n{", -0.1), _token('"label": "', -0.1),
              _token("card", -0.5, [("exchange", -1.5), ("Ref", -2.0), ("weather", -1.0)]),
              _token("_", 0.0), _token("arr", -0.2, [("link", -1.8)]), _token("ival", 0.0),
              _token('"}', -0.1), _token("\n```", 0.0)]
    row = label_probabilities(tokens, CLASSES, "card_arrival")
    mass = {"card_arrival": np.exp(-0.7), "card_linking": np.exp(-0.5 - 1.8),
            "exchange_rate": np.exp(-1.5), "Refund": np.exp(-2.0)}  # "weather": no label
    expected = np.array([mass[c] for c in CLASSES]) / sum(mass.values())
    np.testing.assert_allclose(row, expected, rtol=1e-5)
    assert row.argmax() == 0 and row.sum() == pytest.approx(1.0)


def test_without_usable_logprobs_there_is_no_estimate():
    assert label_probabilities(None, CLASSES, "Refund") is None
    assert label_probabilities([_token('{"label": "Refund"}', float("nan"))], CLASSES,
                               "Refund") is None
    assert label_probabilities([_token("other text", -1.0)], CLASSES, "Refund") is None


# -- settings, fit, save ------------------------------------------------------------------------
@pytest.mark.parametrize("settings, setting", [
    ({"backend": "cloud"}, "backend"),
    ({"backend": "api", "model": "m"}, "base_url"),
    ({"backend": "api", "base_url": "http://127.0.0.1:1/v1"}, "model"),
    ({"backend": "api", "model": "m", "base_url": "127.0.0.1:8080"}, "base_url"),
    ({"api_key_env": made_up_key()}, "api_key_env"),
    ({"shots": -1}, "shots"),
    ({"shot_selection": "best"}, "shot_selection"),
    ({"label_descriptions": ["a"]}, "label_descriptions"),
    ({"prompt_template": "no placeholder"}, "prompt_template"),
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"model": "/nowhere/model.gguf"}, "model"),
])
def test_bad_settings_are_refused_naming_the_setting(settings, setting):
    with pytest.raises(SettingError) as err:
        build_classifier("llm", **settings).check_settings()
    assert err.value.setting == setting


def test_a_key_given_as_api_key_env_is_refused_without_being_repeated():
    with pytest.raises(SettingError) as err:
        LLMClassifier(api_key_env=(key := made_up_key())).check_settings()
    assert key not in str(err.value) and key[:8] not in str(err.value)
    assert "NAME" in str(err.value)


def _api_model(**settings):
    return LLMClassifier(backend="api", base_url="http://127.0.0.1:9/v1", model="m",
                         **settings)


def test_zero_shot_fits_on_the_label_set_alone():
    model = _api_model(api_model="cheap").fit([], [], classes=["pos", "neg"])
    assert model.classes_ == ["pos", "neg"] and model.training_["n_examples"] == 0
    assert model.api_model_ == "cheap" and model.remote_endpoint_ == "http://127.0.0.1:9/v1"
    body = model.request("p")
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == ["pos", "neg"]
    assert body["logprobs"] is True and body["temperature"] == 0.0


def test_fit_refuses_what_a_prompt_cannot_use():
    with pytest.raises(DataError, match="shots=3"):
        _api_model(shots=3).fit(["a", "b"], ["x", "y"])
    with pytest.raises(DataError, match="not one of the classes"):
        _api_model(label_descriptions={"z": "?"}).fit([], [], classes=["x", "y"])
    with pytest.raises(DataError, match="one label per text"):
        _api_model().fit(["a", "b"], [["x"], ["y"]])
    with pytest.raises(DataError, match="zero examples"):  # no label set either
        _api_model().fit([], [])


def test_the_saved_folder_is_json_and_loads_to_the_same_prompts(tmp_path):
    model = _api_model(shots=2, seed=1, label_descriptions={"x": "the first"},
                       task_description="Sort.")
    model.fit(["a1", "a2", "b1", "b2"], ["x", "x", "y", "y"])
    folder = model.save(tmp_path / "m")
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["README.md", "llm.json", "whichmodel.json"]
    state = json.loads((folder / "llm.json").read_text())
    assert state["template"] == DEFAULT_TEMPLATE and len(state["shots"]) == 2
    loaded = load_model(folder)
    assert isinstance(loaded, LLMClassifier) and loaded.prompts(["t"]) == model.prompts(["t"])
    assert loaded.remote_endpoint_ == model.remote_endpoint_


def test_a_saved_example_outside_the_classes_is_a_damaged_folder(tmp_path):
    from whichmodel.models.layout import ModelFileError

    folder = _api_model(shots=1).fit(["a", "b"], ["x", "y"]).save(tmp_path / "m")
    state = json.loads((folder / "llm.json").read_text())
    state["shots"] = [["a", "zzz"]]
    (folder / "llm.json").write_text(json.dumps(state))
    meta = json.loads((folder / "whichmodel.json").read_text())
    meta["files"]["llm.json"] = (folder / "llm.json").stat().st_size  # only content wrong
    (folder / "whichmodel.json").write_text(json.dumps(meta))
    with pytest.raises((DataError, ModelFileError), match="zzz"):
        load_model(folder)
