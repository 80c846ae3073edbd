"""Prices and the cost model: the dated catalogue, overrides, totals, break-even volumes.

Every price is data (`prices.yaml`, dated, each figure with its source), never a constant
in code; see `whichmodel.costs.model` for the exact formulas.
"""

from __future__ import annotations

from whichmodel.costs.model import (
    HOURS_PER_MONTH,
    CostBreakdown,
    break_even_volume,
    break_even_volumes,
    cost_of,
    deployment_speed_factor,
    total_cost_at_volumes,
)
from whichmodel.costs.prices import ApiPrice, HardwarePrice, Prices, load_prices, read_overrides
from whichmodel.costs.scenario import Scenario

__all__ = [
    "HOURS_PER_MONTH",
    "ApiPrice",
    "CostBreakdown",
    "HardwarePrice",
    "Prices",
    "Scenario",
    "break_even_volume",
    "break_even_volumes",
    "cost_of",
    "deployment_speed_factor",
    "load_prices",
    "read_overrides",
    "total_cost_at_volumes",
]
