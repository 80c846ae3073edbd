"""The shipped price catalogue and overrides: dated, sourced, validated, field-named errors."""

from __future__ import annotations

import re

import pytest
import yaml

from whichmodel.costs import load_prices, read_overrides
from whichmodel.costs.prices import CATALOGUE_PATH
from whichmodel.errors import SpecError


def test_catalogue_is_dated_and_every_figure_names_its_source():
    prices = load_prices()
    assert prices.currency == "USD"
    assert prices.date[:4].isdigit() and prices.date.count("-") == 2
    assert prices.usd_per_label > 0 and prices.usd_per_label_source
    assert {"cpu-small", "cpu-large", "t4", "l4", "a10g", "a100", "h100"} <= set(prices.hardware)
    assert {"gpt-4o-mini", "gpt-4o", "claude-haiku-5-5"} <= set(prices.llm_api)
    for key, hw in prices.hardware.items():
        assert hw.name == key and hw.usd_per_hour > 0 and hw.speed_factor > 0
        assert hw.kind in ("cpu", "gpu") and len(hw.source) > 20
    for key, api in prices.llm_api.items():
        assert api.name == key and len(api.source) > 20
        assert api.usd_per_million_output_tokens >= api.usd_per_million_input_tokens > 0
    assert prices.overridden == []


_URL = re.compile(r"https?://\S+")
_DATE = re.compile(r"\b20\d\d-\d\d(-\d\d)?\b")


def test_every_figure_names_its_page_and_the_date_it_was_read():
    prices = load_prices()
    assert prices.date == "2026-12-02"
    sources = {"usd_per_label": prices.usd_per_label_source}
    sources |= {f"hardware.{k}": hw.source for k, hw in prices.hardware.items()}
    sources |= {f"llm_api.{k}": api.source for k, api in prices.llm_api.items()}
    for where, source in sources.items():
        assert _URL.search(source), f"{where}: its source names no page: {source}"
        assert _DATE.search(source), f"{where}: its source names no date: {source}"
        if "NOT RE-VERIFIED" not in source:  # a refreshed figure says when it was read
            assert re.search(r"\b2026-\d\d", source), f"{where}: no 2026 date: {source}"


def test_the_api_table_covers_each_provider_and_its_cheapest_tier():
    api = load_prices().llm_api
    assert len(api) >= 8
    for cheapest in ("gpt-6-luna", "claude-haiku-5-5", "gemini-2.5-flash-lite", "gpt-oss-20b"):
        assert cheapest in api and api[cheapest].has_batch
    for prefix in ("gpt-", "claude-", "gemini-"):
        assert sum(key.startswith(prefix) for key in api) >= 2


def test_batch_prices_are_about_half_and_cached_input_is_cheaper():
    api = load_prices().llm_api
    assert sum(price.has_batch for price in api.values()) >= 8
    for key, price in api.items():
        if price.has_batch:
            batch_in, batch_out = price.per_million("batch")
            assert 0.4 <= batch_in / price.usd_per_million_input_tokens <= 0.6, key
            assert 0.4 <= batch_out / price.usd_per_million_output_tokens <= 0.6, key
        cached = price.usd_per_million_cached_input_tokens
        if cached is not None:
            assert 0 < cached <= price.usd_per_million_input_tokens, key


def test_hardware_gpu_keys_are_gpus():
    hardware = load_prices().hardware
    for key in ("t4", "l4", "a10g", "a100", "h100"):
        assert hardware[key].kind == "gpu" and hardware[key].usd_per_hour > 0
    assert hardware["cpu-small"].kind == hardware["cpu-large"].kind == "cpu"


def test_api_rates_per_tier_and_the_refusal_of_a_missing_batch_tier():
    prices = load_prices({"llm_api": {"house": {"usd_per_million_input_tokens": 2.0,
                                                "usd_per_million_output_tokens": 6.0,
                                                "source": "our gateway"}}})
    assert prices.api_rates("gpt-6-luna") == (0.10, 0.50)
    assert prices.api_rates("gpt-6-luna", "batch") == (0.05, 0.25)
    assert prices.api_rates("house") == (2.0, 6.0)
    with pytest.raises(SpecError) as err:
        prices.api_rates("house", "batch")
    message = str(err.value)
    assert "API model 'house' has no batch price" in message
    assert "usd_per_million_input_tokens_batch and usd_per_million_output_tokens_batch" in message
    assert "api_tier: standard" in message and "gpt-6-luna" in message  # who has one
    with pytest.raises(SpecError, match="api_tier: must be one of 'standard', 'batch'"):
        prices.api_rates("house", "flex")


def test_an_override_of_an_entry_with_a_dot_in_its_key_marks_its_source():
    prices = load_prices({"llm_api": {"gpt-6.1-terra": {"usd_per_million_input_tokens": 0.9}}})
    assert prices.llm_api["gpt-6.1-terra"].source.startswith("override (catalogue: OpenAI")
    assert prices.overridden == ["prices.llm_api.gpt-6.1-terra.usd_per_million_input_tokens"]


def test_measurement_machine_is_the_unit_of_speed():
    prices = load_prices()
    assert prices.hardware[prices.measurement_hardware].speed_factor == 1.0
    assert prices.hardware[prices.measurement_hardware].kind == "cpu"


def test_catalogue_says_it_holds_list_prices_to_override():
    text = CATALOGUE_PATH.read_text(encoding="utf-8")
    assert "LIST PRICES" in text and "OVERRIDE" in text and "ASSUMPTIONS" in text


def test_family_speed_factor_falls_back_to_the_hardware_factor():
    t4 = load_prices().hardware["t4"]
    assert t4.speed_for("setfit") == t4.speed_factor
    assert t4.speed_for("tfidf") == t4.family_speed_factors["tfidf"] < t4.speed_factor


def test_override_changes_one_figure_and_marks_its_source():
    base = load_prices()
    prices = load_prices({"hardware": {"t4": {"usd_per_hour": 0.35}}, "usd_per_label": 0.4})
    assert prices.hardware["t4"].usd_per_hour == 0.35
    assert prices.hardware["t4"].speed_factor == base.hardware["t4"].speed_factor
    assert prices.hardware["t4"].source.startswith("override (catalogue: AWS")
    assert prices.hardware["l4"] == base.hardware["l4"]
    assert prices.usd_per_label == 0.4 and prices.usd_per_label_source.startswith("override")
    assert prices.overridden == ["prices.hardware.t4.usd_per_hour", "prices.usd_per_label"]


def test_override_with_its_own_source_keeps_it():
    prices = load_prices({"llm_api": {"gpt-4o": {"usd_per_million_input_tokens": 1.25,
                                                 "source": "batch API"}}})
    assert prices.llm_api["gpt-4o"].source == "batch API"
    assert prices.llm_api["gpt-4o"].usd_per_million_input_tokens == 1.25


def test_new_entries_can_be_added_with_all_their_fields():
    prices = load_prices({"hardware": {"onprem": {"usd_per_hour": 0.2, "speed_factor": 2,
                                                  "kind": "cpu", "source": "our rack"}}})
    assert prices.hardware["onprem"].name == "onprem"


def test_overrides_wrapped_in_a_prices_key_are_accepted(tmp_path):
    path = tmp_path / "over.yaml"
    path.write_text(yaml.safe_dump({"prices": {"usd_per_label": 0.5}}))
    assert read_overrides(path) == {"usd_per_label": 0.5}
    assert load_prices({"prices": {"usd_per_label": 0.5}}).usd_per_label == 0.5


@pytest.mark.parametrize(("overrides", "message"), [
    ({"hardware": {"t4": {"usd_per_hour": -1}}},
     "prices.hardware.t4.usd_per_hour: must be > 0 (got -1)"),
    ({"hardware": {"t4": {"usd_per_hour": 0}}}, "prices.hardware.t4.usd_per_hour: must be > 0"),
    ({"hardware": {"t4": {"speed_factor": 0}}}, "prices.hardware.t4.speed_factor: must be > 0"),
    ({"hardware": {"t4": {"usd_per_hr": 1}}},
     "prices.hardware.t4.usd_per_hr: unknown field; known fields: usd_per_hour"),
    ({"hardware": {"t4": {"kind": "tpu"}}}, "prices.hardware.t4.kind: must be one of"),
    ({"hardware": {"new": {"usd_per_hour": 1}}}, "prices.hardware.new.source: required"),
    ({"llm_api": {"gpt-4o": {"usd_per_million_input_tokens": "cheap"}}},
     "prices.llm_api.gpt-4o.usd_per_million_input_tokens: must be a number"),
    ({"usd_per_label": -0.1}, "prices.usd_per_label: must be >= 0"),
    ({"llm_api": {"gpt-4o": {"usd_per_million_input_tokens_batch": -1}}},
     "prices.llm_api.gpt-4o.usd_per_million_input_tokens_batch: must be >= 0"),
    ({"llm_api": {"gpt-4o": {"usd_per_million_output_tokens_batch": float("inf")}}},
     "prices.llm_api.gpt-4o.usd_per_million_output_tokens_batch: must be a finite number"),
    ({"llm_api": {"gpt-4o": {"usd_per_million_cached_input_tokens": 1e9}}},
     "prices.llm_api.gpt-4o.usd_per_million_cached_input_tokens: must be <= 1e+06"),
    ({"llm_api": {"new": {"usd_per_million_input_tokens": 1, "usd_per_million_output_tokens": 2,
                          "usd_per_million_input_tokens_batch": 0.5, "source": "s"}}},
     "prices.llm_api.new: usd_per_million_output_tokens_batch: required when "
     "usd_per_million_input_tokens_batch is given"),
    ({"bogus": 1}, "prices.bogus: unknown field"),
    ({"hardware": 3}, "prices.hardware: must be a mapping"),
    ({"measurement_hardware": "t4"}, "must have speed_factor 1.0"),
    ({"measurement_hardware": "mac"}, "measurement_hardware 'mac' is not a hardware entry"),
])
def test_bad_overrides_name_the_field_on_one_line(overrides, message):
    with pytest.raises(SpecError) as err:
        load_prices(overrides)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_catalogue_path_and_missing_file(tmp_path):
    own = tmp_path / "mine.yaml"
    own.write_text(CATALOGUE_PATH.read_text(encoding="utf-8").replace(
        'date: "2026-12-02"', 'date: "2030-01-01"'))
    assert load_prices(path=own).date == "2030-01-01"
    with pytest.raises(SpecError, match="prices file not found"):
        load_prices(path=tmp_path / "absent.yaml")


def test_unknown_keys_raise_spec_errors_listing_the_known_ones():
    prices = load_prices()
    with pytest.raises(SpecError, match="unknown hardware 'tpu'; known: a100"):
        prices.hardware_price("tpu")
    with pytest.raises(SpecError, match="no price for API model 'gpt-9'"):
        prices.api_price("gpt-9")
