"""The cost model: what one choice (a candidate at a label budget) costs over a horizon.

Everything is priced from `Prices` (dated list prices, overridable) and from what the
benchmark measured on the measurement machine; nothing here is a price. Money is US
dollars, volumes are items per month, a month is ``HOURS_PER_MONTH`` = 730 hours
(8,760 h / 12: the convention cloud providers bill always-on instances by).

With V the monthly volume, p_x a hardware's usd_per_hour and s_x its speed factor for
the candidate's family (how many times faster than the measurement machine):

    annotation  = n_labels × usd_per_label                                  (one-off)
    training    = train_seconds / s_train / 3600 × p_train                  (one-off)
                + teacher labelling, for a model trained on an LLM teacher's labels:
                  (teacher_input_tokens × usd_per_M_input + teacher_output_tokens ×
                  usd_per_M_output) / 1e6 at the teacher's API model, standard tier
                  (its calls were synchronous); a local teacher: $0 here, its compute is
                  inside train_seconds                                    (one-off)
    inference per month, API candidate (``api_model`` set; no floor):
                = V × (input_tokens_per_item × usd_per_M_input
                       + output_tokens_per_item × usd_per_M_output) / 1e6
        at the candidate's API tier: "standard" (synchronous calls, the default) or
        "batch" (the provider's batch API, about half price, where the price table has
        one; asking for it where it has none is a `SpecError` naming the model)
    inference per month, self-hosted on the deployment hardware d:
        capacity  = throughput_items_per_s × s_d × 3600 × 730     items per instance-month
        instances = max(1, ceil(V / capacity))
                  = instances × 730 × p_d
    total       = annotation + training + inference per month × horizon_months

The self-hosted line is "the larger of the always-on floor (one instance, 730 h × p_d)
and the busy hours V / (throughput × s_d) / 3600 × p_d", with the busy hours rounded up
to whole always-on instances: one instance is a floor, and when it cannot keep up a
second one runs all month too. It assumes evenly spread traffic at full utilisation, so
it is a lower bound for spiky traffic. Training runs on ``scenario.training_hardware``
when the scenario has one, else on the deployment hardware; retraining is not priced.

A choice of several models (a cascade: ``stages``, each a `Stage` with the share of the
volume it sees) is priced stage by stage: its own annotation (the labels it needs once),
the training of every stage, and every stage's inference at its share of V — a
self-hosted stage then runs at least one always-on instance of its own, an API stage
pays for the tokens of the items it sees.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from whichmodel.costs.drivers import CostDrivers, Stage
from whichmodel.costs.prices import API_TIERS, Prices
from whichmodel.costs.scenario import Scenario, check_scenario
from whichmodel.errors import DataError

HOURS_PER_MONTH = 730.0
SECONDS_PER_HOUR = 3600.0
TOKENS_PER_MILLION = 1e6
# Break-even search range, items per month: from a trickle to far beyond any real volume.
BREAK_EVEN_RANGE = (1.0, 1e12)
# A later stage of a cascade adds its latency to the p95 once more than this share of
# items reaches it: the 95th-percentile item is then one that ran through both.
P95_TAIL_SHARE = 0.05


@dataclass
class CostBreakdown:
    """One choice's cost over the scenario's horizon, in US dollars, with the why."""

    annotation_usd: float
    training_usd: float
    inference_usd: float              # over the whole horizon
    total_usd: float
    inference_usd_per_month: float
    self_hosted: bool
    notes: list[str] = field(default_factory=list)
    instances: int | None = None      # always-on instances (self-hosted only)
    hardware: str | None = None       # deployment hardware key, or the API model key
    training_hardware: str | None = None
    # The LLM teacher's labelling tokens at its API price: a part of training_usd.
    teacher_labelling_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def drivers_of(choice: Any) -> CostDrivers:
    """The `CostDrivers` of a choice: its ``drivers`` (a `CandidateSummary`, a
    `RunRecord`), or those of any object with the driver attributes."""
    drivers = getattr(choice, "drivers", None)
    return drivers if isinstance(drivers, CostDrivers) else CostDrivers.of(choice)


def api_tier_of(choice: Any) -> str:
    """The API price tier `choice` is priced at: the ``api_tier`` of its drivers, else its
    own ``api_tier`` (a candidate's spec setting carried on its rows), else "standard"."""
    for holder in (getattr(choice, "drivers", None), choice):
        tier = getattr(holder, "api_tier", None)
        if tier:
            return str(tier)
    return API_TIERS[0]


def training_hardware_key(scenario: Scenario) -> str:
    """Where training runs: ``scenario.training_hardware`` if set, else deployment."""
    return scenario.training_hardware or scenario.hardware


def stages_of(choice: Any) -> tuple[Stage, ...]:
    """The models ``choice`` runs, each with the share of the volume it sees: a
    cascade's ``stages``, else the choice itself on every item."""
    stages = getattr(choice, "stages", None)
    if stages:
        return tuple(stages)
    drivers = drivers_of(choice)
    if drivers.api_model and drivers.api_tier != api_tier_of(choice):  # the choice's own
        drivers = dataclasses.replace(drivers, api_tier=api_tier_of(choice))
    return (Stage(_label(choice), drivers, 1.0),)


def deployment_speed_factor(choice: Any, scenario: Scenario, prices: Prices) -> float | None:
    """How many times faster than measured `choice` runs when deployed; None for APIs."""
    if drivers_of(choice).api_model:
        return None
    return prices.hardware_price(scenario.hardware).speed_for(drivers_of(choice).family)


def deployed_latency_p95_ms(choice: Any, scenario: Scenario, prices: Prices) -> float | None:
    """p95 single-item latency (ms) on the deployment hardware: measured ÷ the hardware's
    speed factor for the family (an API's as measured); None when not measured.

    A cascade's is its first stage's, plus each later stage's that more than
    `P95_TAIL_SHARE` of the items reach: the p95 item then ran through both, and the sum
    of the two p95s bounds it from above."""
    total = 0.0
    for i, stage in enumerate(stages_of(choice)):
        if i and stage.volume_share <= P95_TAIL_SHARE:
            continue
        latency = stage.drivers.latency_p95_ms
        if latency is None:
            return None
        speed = deployment_speed_factor(stage, scenario, prices)
        total += float(latency) / speed if speed is not None else float(latency)
    return total


def cost_of(choice: Any, scenario: Scenario, prices: Prices, *,
            api_tier: str | None = None) -> CostBreakdown:
    """Annotation, training and inference cost of `choice` (a `CandidateSummary` or a
    `RunRecord`) at ``scenario.volume_per_month`` over ``scenario.horizon_months``.

    ``api_tier`` ("standard" or "batch") prices an API candidate's tokens at that tier;
    None takes the choice's own (`api_tier_of`: "standard" unless it names one). It does
    nothing for a self-hosted candidate."""
    _check_scenario(scenario)
    fixed, fixed_notes = _one_off_costs(choice, scenario, prices)
    monthly, inference_notes, instances = _inference_per_month(
        choice, scenario, prices, np.array([float(scenario.volume_per_month)]), api_tier)
    per_month = float(monthly[0])
    inference = per_month * float(scenario.horizon_months)
    where = list(dict.fromkeys(s.drivers.api_model or scenario.hardware
                               for s in stages_of(choice)))
    self_hosted = not any(s.drivers.api_model for s in stages_of(choice))
    total = fixed["annotation"] + fixed["training"] + inference
    if not math.isfinite(total):  # e.g. a throughput of 1e-300 items/s: never "$inf"
        raise DataError(f"the cost of {_label(choice)} is not a finite number (annotation "
                        f"{fixed['annotation']:.3g}, training {fixed['training']:.3g}, "
                        f"inference {per_month:.3g} per month, in USD); check its measured "
                        "throughput, the price overrides and the volume")
    return CostBreakdown(
        annotation_usd=fixed["annotation"], training_usd=fixed["training"],
        inference_usd=inference, total_usd=total,
        inference_usd_per_month=per_month, self_hosted=self_hosted,
        notes=fixed_notes + inference_notes,
        instances=None if instances is None else int(instances[0]),
        hardware=" + ".join(where),
        training_hardware=training_hardware_key(scenario),
        teacher_labelling_usd=fixed["teacher_labelling"])


def total_cost_at_volumes(choice: Any, scenario: Scenario, prices: Prices,
                          volumes_per_month: Sequence[float] | np.ndarray, *,
                          api_tier: str | None = None) -> np.ndarray:
    """Total cost over the horizon (USD) at each monthly volume: for cost-vs-volume lines.
    ``api_tier`` as in `cost_of`."""
    _check_scenario(scenario)
    volumes = np.asarray(volumes_per_month, dtype=float)
    fixed, _ = _one_off_costs(choice, scenario, prices)
    monthly, _, _ = _inference_per_month(choice, scenario, prices, volumes.ravel(), api_tier)
    total = fixed["annotation"] + fixed["training"] + monthly * float(scenario.horizon_months)
    return total.reshape(volumes.shape)


def cost_at(choices: Sequence[Any], scenario: Scenario,
            prices: Prices) -> Callable[[str, float], float]:
    """``(label, volume) -> total USD over the horizon`` for ``choices`` (labelled
    ``"candidate @ budget"``), straight from `total_cost_at_volumes`: what the switch
    sentences quote."""
    by_label = {f"{c.candidate} @ {c.budget}": c for c in choices}

    def total(label: str, volume: float) -> float:
        return float(total_cost_at_volumes(by_label[label], scenario, prices,
                                           np.array([float(volume)]))[0])

    return total


def break_even_volumes(a: Any, b: Any, scenario: Scenario, prices: Prices,
                       low: float = BREAK_EVEN_RANGE[0], high: float = BREAK_EVEN_RANGE[1],
                       points_per_decade: int = 100) -> list[float]:
    """Every monthly volume in [low, high] where the totals of `a` and `b` are equal.

    The totals are piecewise linear with steps (whole instances), so the difference is
    sampled on a log grid and each sign change is refined by bisection in log space; at
    a step the "crossing" is the volume where the step happens.
    """
    def diff(volumes: np.ndarray) -> np.ndarray:
        return (total_cost_at_volumes(a, scenario, prices, volumes)
                - total_cost_at_volumes(b, scenario, prices, volumes))

    decades = max(math.log10(high) - math.log10(low), 1e-9)
    grid = np.logspace(math.log10(low), math.log10(high),
                       int(math.ceil(decades * points_per_decade)) + 1)
    signs = np.sign(diff(grid))
    crossings: list[float] = []
    for i in range(len(grid) - 1):
        if signs[i] == 0:
            if i > 0 and signs[i - 1] != 0:
                crossings.append(float(grid[i]))
        elif signs[i + 1] != 0 and signs[i + 1] != signs[i]:
            crossings.append(_bisect(diff, float(grid[i]), float(grid[i + 1]), signs[i]))
    return crossings


def break_even_volume(a: Any, b: Any, scenario: Scenario, prices: Prices) -> float | None:
    """The lowest monthly volume where `a` and `b` cost the same over the horizon;
    None when one is cheaper (or they are equal) at every volume from 1 to 1e12."""
    crossings = break_even_volumes(a, b, scenario, prices)
    return crossings[0] if crossings else None


def _bisect(diff: Any, lo: float, hi: float, sign_lo: float, iterations: int = 60) -> float:
    log_lo, log_hi = math.log(lo), math.log(hi)
    for _ in range(iterations):
        mid = (log_lo + log_hi) / 2
        value = float(diff(np.array([math.exp(mid)]))[0])
        if value == 0:
            return math.exp(mid)
        if np.sign(value) == sign_lo:
            log_lo = mid
        else:
            log_hi = mid
    return math.exp((log_lo + log_hi) / 2)


def _one_off_costs(choice: Any, scenario: Scenario,
                   prices: Prices) -> tuple[dict[str, float], list[str]]:
    notes = []
    n_labels = float(drivers_of(choice).n_labels or 0)
    annotation = n_labels * prices.usd_per_label
    notes.append(f"annotation: {n_labels:,.0f} labels × ${prices.usd_per_label:g} "
                 f"({prices.usd_per_label_source})")
    key = training_hardware_key(scenario)
    hardware = prices.hardware_price(key, field="training_hardware")
    stages = stages_of(choice)
    training = labelling = 0.0
    for stage in stages:
        named = f" ({stage.label})" if len(stages) > 1 else ""
        seconds = stage.drivers.train_seconds
        if seconds is None:
            notes.append(f"training{named}: not measured for {stage.label}; priced at $0")
        else:
            speed = hardware.speed_for(stage.drivers.family)
            training += float(seconds) / speed / SECONDS_PER_HOUR * hardware.usd_per_hour
            notes.append(f"training{named}: {float(seconds):,.1f} s measured ÷ speed factor "
                         f"{speed:g} on {key} at ${hardware.usd_per_hour:g}/h "
                         f"({hardware.source})")
        teacher = _teacher_labelling(stage, prices)
        if teacher is not None:
            labelling += teacher[0]
            notes.append(f"teacher labelling{named}: {teacher[1]}")
    return {"annotation": annotation, "training": training + labelling,
            "teacher_labelling": labelling}, notes


# The tier a teacher's labelling tokens are priced at: its calls were synchronous ones.
TEACHER_API_TIER = "standard"


def _teacher_labelling(stage: Stage, prices: Prices) -> tuple[float, str] | None:
    """(USD, note) of the LLM teacher's labelling of a model trained on its labels, or
    None for a model that had no teacher. Priced once, at the teacher's API model; a
    teacher without one ran here (or on a self-hosted server): its time is inside the
    measured train seconds, so its tokens cost nothing more."""
    drivers = stage.drivers
    tokens_in, tokens_out = drivers.teacher_input_tokens, drivers.teacher_output_tokens
    api_model = drivers.teacher_api_model
    if api_model is None:
        if tokens_in is None and tokens_out is None:
            return None
        return 0.0, (f"{float(tokens_in or 0):,.0f} input + {float(tokens_out or 0):,.0f} "
                     "output tokens of a teacher with no API price (local, or a self-hosted "
                     "server): its compute is inside the measured train seconds")
    if tokens_in is None or tokens_out is None:
        raise DataError(f"{stage.label} was trained on labels of API model {api_model!r} but "
                        "the teacher's tokens were not recorded; rerun `whichmodel bench`")
    usd_in, usd_out = prices.api_rates(api_model, TEACHER_API_TIER)  # SpecError: no price
    usd = (float(tokens_in) * usd_in + float(tokens_out) * usd_out) / TOKENS_PER_MILLION
    return usd, (f"{float(tokens_in):,.0f} input + {float(tokens_out):,.0f} output tokens of "
                 f"API {api_model} ({TEACHER_API_TIER} tier) at ${usd_in:g}/${usd_out:g} per "
                 f"M = ${usd:.3g}, once ({prices.api_price(api_model).source})")


def _inference_per_month(choice: Any, scenario: Scenario, prices: Prices,
                         volumes: np.ndarray, api_tier: str | None = None,
                         ) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """Monthly inference USD at each volume, notes for the scenario volume, and the
    always-on instances (None when no stage is self-hosted): the sum over the choice's
    stages, each at its share of the volume."""
    stages = stages_of(choice)
    monthly = np.zeros(len(volumes))
    notes: list[str] = []
    instances: np.ndarray | None = None
    for stage in stages:
        usd, note, count = _stage_per_month(stage, scenario, prices, volumes, api_tier)
        monthly = monthly + usd
        notes.append(note if len(stages) == 1 else
                     f"{stage.label}, {stage.volume_share:.1%} of items: {note}")
        if count is not None:
            instances = count if instances is None else instances + count
    return monthly, notes, instances


def _stage_per_month(stage: Stage, scenario: Scenario, prices: Prices, volumes: np.ndarray,
                     api_tier: str | None) -> tuple[np.ndarray, str, np.ndarray | None]:
    """One stage's monthly inference USD at each (whole-choice) volume, its note, and
    its instances (None for an API). An API stage is priced at ``api_tier`` (None:
    `api_tier_of` its drivers, "standard" unless they name a tier)."""
    drivers, share = stage.drivers, float(stage.volume_share)
    volumes = volumes * share
    api_model = drivers.api_model
    if api_model:
        tier = api_tier or api_tier_of(stage)
        usd_in, usd_out = prices.api_rates(api_model, tier)  # SpecError: no such tier
        price = prices.api_price(api_model)
        tokens_in = drivers.input_tokens_per_item
        tokens_out = drivers.output_tokens_per_item
        if tokens_in is None or tokens_out is None:
            raise DataError(f"{stage.label} calls API model {api_model!r} but its tokens "
                            "per item were not measured; rerun `whichmodel bench`")
        per_item = (float(tokens_in) * usd_in + float(tokens_out) * usd_out) / TOKENS_PER_MILLION
        note = (f"inference: API {api_model} ({tier} tier), {float(tokens_in):,.0f} input + "
                f"{float(tokens_out):,.1f} output tokens/item at ${usd_in:g}/${usd_out:g}"
                f" per M = ${per_item:.3g}/item, no floor ({price.source})")
        return volumes * per_item, note, None

    hardware = prices.hardware_price(scenario.hardware)
    throughput = drivers.throughput_items_per_s
    if not throughput or throughput <= 0:
        raise DataError(f"{stage.label} has no measured throughput, so its self-hosted "
                        "inference cannot be priced; rerun `whichmodel bench`")
    speed = hardware.speed_for(drivers.family)
    capacity = float(throughput) * speed * SECONDS_PER_HOUR * HOURS_PER_MONTH
    volume = float(scenario.volume_per_month) * share
    busy = volume / capacity  # fraction of one instance-month
    if not math.isfinite(busy):  # a throughput of 1e-300 (or NaN) items/s in the ledger
        raise DataError(f"the cost of {stage.label} is not a finite number: its measured "
                        f"throughput of {float(throughput):g} items/s × speed factor "
                        f"{speed:g} cannot serve {volume:g} items "
                        "per month; check its throughput in the ledger (rerun `whichmodel "
                        "bench`) and the speed factor")
    instances = np.maximum(1.0, np.ceil(volumes / capacity))
    monthly = instances * HOURS_PER_MONTH * hardware.usd_per_hour
    note = (f"inference: self-hosted on {scenario.hardware} at ${hardware.usd_per_hour:g}/h, "
            f"{float(throughput):,.1f} items/s measured × speed factor {speed:g} = "
            f"{capacity:,.0f} items per instance-month; "
            f"{max(1, math.ceil(busy)):,} always-on instance(s), {busy:.1%} of one busy "
            f"({hardware.source})")
    return monthly, note, instances


def _check_scenario(scenario: Scenario) -> None:
    check_scenario(scenario)  # again: a Scenario's fields can be reassigned after creation


def _label(choice: Any) -> str:
    candidate = getattr(choice, "candidate", "?")
    budget = getattr(choice, "budget", None)
    return f"{candidate} @ {budget}" if budget else str(candidate)
