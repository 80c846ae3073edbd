"""The price catalogue: the dated `prices.yaml` shipped with the package, plus overrides.

Every dollar figure whichmodel shows comes from here, never from a constant in code, and
each one carries its `source` so a reader can check it. Overrides (a spec's `prices:`
section, or `choose --prices FILE`) are merged over the catalogue key by key; a figure
changed without a new `source` gets "override (catalogue: ...)" as its source so the
report never passes an override off as a list price.

Validation is pydantic's; its errors are rewritten into one line that names the field
(``prices.hardware.t4.usd_per_hour: must be > 0``) and raised as `SpecError`. Figures are
finite and inside stated bounds: an override such as ``usd_per_label: 1e308`` would make
every total ``$inf``, which is not a price, so it is refused here with the bound.

An LLM API entry has its standard (synchronous) per-token prices and, where the provider
publishes them, a batch tier (``usd_per_million_{input,output}_tokens_batch``: asynchronous
batch APIs, about half price) and a cached-input price. `Prices.api_rates` gives the pair
for a tier and refuses a batch tier the entry does not have, naming the fix.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from whichmodel.errors import SpecError, quote, shorten
from whichmodel.readers import read_text
from whichmodel.yaml_scalars import MAX_TEXT_CHARS, YAMLLimitError, safe_load

CATALOGUE_PATH = Path(__file__).with_name("prices.yaml")
OVERRIDE_SOURCE = "override"
# Bounds on every figure: far past any real price or speed-up, and far from float's
# 1.8e308 (the cost model still refuses any total that comes out non-finite).
MAX_USD = 1e6      # per label, per hour, per million tokens
MAX_SPEED = 1e6    # times faster than the measurement machine
#: The price tiers of an LLM API: synchronous calls, or the provider's batch API.
ApiTier = Literal["standard", "batch"]
API_TIERS: tuple[str, ...] = ("standard", "batch")
_BATCH_FIELDS = ("usd_per_million_input_tokens_batch", "usd_per_million_output_tokens_batch")


def _usd(**kwargs: Any) -> Any:
    return Field(ge=0, le=MAX_USD, allow_inf_nan=False, **kwargs)


def _speed(**kwargs: Any) -> Any:
    return Field(gt=0, le=MAX_SPEED, allow_inf_nan=False, **kwargs)


_Speed = Annotated[float, _speed()]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HardwarePrice(_Strict):
    """One machine you can rent by the hour: deployment or training target."""

    name: str
    usd_per_hour: float = Field(gt=0, le=MAX_USD, allow_inf_nan=False)
    speed_factor: float = _speed(
        description="times faster than the measurement machine (an assumption unless "
                    "measured)")
    kind: Literal["cpu", "gpu"]
    source: str
    family_speed_factors: dict[str, _Speed] = Field(default_factory=dict)

    def speed_for(self, family: str | None) -> float:
        """Speed factor for one model family (falls back to `speed_factor`)."""
        return float(self.family_speed_factors.get(family or "", self.speed_factor))


class ApiPrice(_Strict):
    """A hosted LLM billed per token: standard prices, and the batch tier and cached-input
    price where the provider publishes them (None where it does not)."""

    name: str
    usd_per_million_input_tokens: float = _usd()
    usd_per_million_output_tokens: float = _usd()
    usd_per_million_input_tokens_batch: float | None = _usd(default=None)
    usd_per_million_output_tokens_batch: float | None = _usd(default=None)
    # Prompt-cache hits. Recorded for readers and overrides; the cost model does not use
    # it yet (no run measures the cached share of its input tokens).
    usd_per_million_cached_input_tokens: float | None = _usd(default=None)
    source: str

    @model_validator(mode="after")
    def _batch_tier_is_whole(self) -> ApiPrice:
        given = [name for name in _BATCH_FIELDS if getattr(self, name) is not None]
        if len(given) == 1:
            missing = next(name for name in _BATCH_FIELDS if name not in given)
            raise ValueError(f"{missing}: required when {given[0]} is given (a batch tier "
                             "needs both its input and its output price)")
        return self

    @property
    def has_batch(self) -> bool:
        """Whether the entry has a batch tier (both batch prices)."""
        return self.usd_per_million_input_tokens_batch is not None

    def per_million(self, tier: str = "standard") -> tuple[float, float]:
        """USD per million (input, output) tokens at ``tier``; `SpecError` for a tier the
        entry has no prices for, or an unknown tier."""
        if tier == "standard":
            return self.usd_per_million_input_tokens, self.usd_per_million_output_tokens
        if tier == "batch":
            if not self.has_batch:
                raise SpecError(
                    f"prices.llm_api.{self.name}: API model {quote(self.name)} has no batch "
                    f"price; add {' and '.join(_BATCH_FIELDS)} under prices.llm_api."
                    f"{self.name} (with their source), or price the candidate at "
                    "api_tier: standard")
            return (float(self.usd_per_million_input_tokens_batch or 0.0),
                    float(self.usd_per_million_output_tokens_batch or 0.0))
        raise SpecError(f"api_tier: must be one of {', '.join(map(repr, API_TIERS))}, "
                        f"got {quote(tier)}")


class Prices(_Strict):
    """The catalogue after overrides. Money is US dollars; `date` is when the list
    prices were taken, shown next to every cost so stale figures are visible."""

    date: str
    currency: Literal["USD"] = "USD"
    measurement_hardware: str
    usd_per_label: float = _usd()
    usd_per_label_source: str
    hardware: dict[str, HardwarePrice]
    llm_api: dict[str, ApiPrice] = Field(default_factory=dict)
    overridden: list[str] = Field(default_factory=list,
                                  description="dotted paths of the figures overridden")

    @model_validator(mode="after")
    def _measurement_machine_is_the_unit(self) -> Prices:
        machine = self.hardware.get(self.measurement_hardware)
        if machine is None:
            raise ValueError(f"measurement_hardware {quote(self.measurement_hardware)} is not a "
                             f"hardware entry; entries are: {', '.join(sorted(self.hardware))}")
        if machine.speed_factor != 1.0:
            raise ValueError(f"measurement_hardware {quote(self.measurement_hardware)} must have "
                             f"speed_factor 1.0 (it is the unit), got {machine.speed_factor}")
        return self

    def hardware_price(self, key: str, *, field: str = "hardware") -> HardwarePrice:
        """The entry for `key`, or a `SpecError` listing the known keys."""
        try:
            return self.hardware[key]
        except KeyError:
            raise SpecError(f"{field}: unknown hardware {quote(key)}; known: "
                            f"{', '.join(sorted(self.hardware))}. Add it under "
                            f"prices.hardware (usd_per_hour, speed_factor, kind, "
                            f"source).") from None

    def api_price(self, key: str) -> ApiPrice:
        """The entry for LLM API model `key`, or a `SpecError` listing the known keys."""
        try:
            return self.llm_api[key]
        except KeyError:
            raise SpecError(f"prices.llm_api: no price for API model {quote(key)}; known: "
                            f"{', '.join(sorted(self.llm_api)) or 'none'}. Add it under "
                            f"prices.llm_api (usd_per_million_input_tokens, "
                            f"usd_per_million_output_tokens, source).") from None

    def api_rates(self, key: str, tier: str = "standard") -> tuple[float, float]:
        """USD per million (input, output) tokens of API model `key` at ``tier``
        ("standard" or "batch"); a `SpecError` names the model and the fix when the
        entry has no price for that tier (and says which entries have one)."""
        price = self.api_price(key)
        try:
            return price.per_million(tier)
        except SpecError as err:
            if tier != "batch":
                raise
            with_batch = sorted(k for k, p in self.llm_api.items() if p.has_batch)
            raise SpecError(f"{err}; entries with a batch price: "
                            f"{', '.join(with_batch) or 'none'}") from None


def load_prices(overrides: Mapping[str, Any] | None = None,
                path: str | Path | None = None) -> Prices:
    """The shipped catalogue (or the YAML at `path`) with `overrides` merged over it.

    `overrides` is the nested dict of a spec's `prices:` section; a dict wrapped in a
    single top-level ``prices:`` key is accepted too. Raises `SpecError` naming the field.
    """
    catalogue_path = Path(path) if path is not None else CATALOGUE_PATH
    catalogue = _read_yaml(catalogue_path)
    if overrides and set(overrides) == {"prices"} and isinstance(overrides["prices"], Mapping):
        overrides = overrides["prices"]
    merged, changed = _merge(catalogue, overrides or {})
    for section in ("hardware", "llm_api"):
        entries = merged.get(section)
        if isinstance(entries, dict):
            for key, entry in entries.items():
                if isinstance(entry, dict):
                    entry.setdefault("name", key)
    merged["overridden"] = changed
    try:
        return Prices.model_validate(merged)
    except ValidationError as err:
        raise SpecError(_one_line(err)) from None


def read_overrides(path: str | Path) -> dict[str, Any]:
    """Price overrides from a YAML file (a `prices:` section or its contents)."""
    data = _read_yaml(Path(path))
    if set(data) == {"prices"} and isinstance(data["prices"], dict):
        data = data["prices"]
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    text = read_text(path, what="prices file", limit=MAX_TEXT_CHARS, error=SpecError)
    try:
        data = safe_load(text)
    except YAMLLimitError as err:
        raise SpecError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())  # PyYAML's message spans lines
        raise SpecError(f"{path}: not valid YAML: {shorten(detail, 300)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of price fields, got "
                        f"{type(data).__name__}")
    return data


def _merge(base: dict[str, Any], overrides: Mapping[str, Any],
           prefix: str = "prices", depth: int = 0) -> tuple[dict[str, Any], list[str]]:
    """Deep-merge `overrides` over a copy of `base`; return it and the changed paths.

    An entry of `hardware` / `llm_api` whose figures change but whose `source` is not
    given gets an "override (catalogue: ...)" source, so provenance stays honest.
    """
    if not isinstance(overrides, Mapping):
        raise SpecError(f"{prefix}: expected a mapping, got {type(overrides).__name__}")
    merged = copy.deepcopy(base)
    changed: list[str] = []
    for key, value in overrides.items():
        path = f"{prefix}.{key}"
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, Mapping):
            merged[key], sub = _merge(old, value, path, depth + 1)
            changed += sub
        else:
            merged[key] = copy.deepcopy(value)
            changed.append(path)
    if depth == 2 and changed and "source" not in overrides:
        # prices.<section>.<entry> (by depth: an entry's key may hold a dot, such as
        # "gpt-6.1-terra"): an existing entry with new figures
        merged["source"] = f"{OVERRIDE_SOURCE} (catalogue: {base.get('source', 'none')})"
    if depth == 0 and "usd_per_label" in overrides \
            and "usd_per_label_source" not in overrides:
        merged["usd_per_label_source"] = (
            f"{OVERRIDE_SOURCE} (catalogue: {base.get('usd_per_label_source', 'none')})")
    return merged, changed


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be <= {le}",
    "finite_number": "must be a finite number",
    "literal_error": "must be one of {expected}",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "dict_type": "must be a mapping",
}


def _one_line(err: ValidationError) -> str:
    """Pydantic's errors as ``prices.<field path>: <what is wrong>; ...`` on one line."""
    parts = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"])
        template = _MESSAGES.get(item["type"])
        if template is None:
            message = item["msg"].removeprefix("Value error, ")
        else:
            ctx = {k: f"{v:g}" if isinstance(v, (int, float)) else v
                   for k, v in (item.get("ctx") or {}).items()}
            message = template.format(**ctx)
        if item["type"] == "extra_forbidden":
            message += f"; known fields: {', '.join(_known_fields(item['loc']))}"
        if item["type"] not in ("missing", "extra_forbidden", "value_error"):
            message += f" (got {quote(item.get('input'))})"
        parts.append(f"prices.{loc}: {message}" if loc else f"prices: {message}")
    return "; ".join(parts)


def _known_fields(loc: tuple[Any, ...]) -> list[str]:
    """Field names a user may write at the place `loc` points into."""
    model: type[BaseModel] = Prices
    if len(loc) == 3 and loc[0] == "hardware":
        model = HardwarePrice
    elif len(loc) == 3 and loc[0] == "llm_api":
        model = ApiPrice
    return [name for name in model.model_fields if name not in ("name", "overridden")]
