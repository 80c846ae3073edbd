"""The public API: sorted, complete, importable, and light to import.

`whichmodel.__dir__` lists ``__all__``, so comparing ``dir()`` with ``__all__`` proves
nothing; completeness is checked against sources that do not read ``__all__``: the
modules whose own ``__all__`` the package re-exports whole, the names the README calls,
and the names the design promises.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import whichmodel

README = Path(__file__).resolve().parents[1] / "README.md"
# Modules whose whole `__all__` is part of the top-level API.
REEXPORTED_WHOLE = ("whichmodel.data",)
# Names the design (DESIGN.md, issue #17) promises at the top level.
PROMISED = {"Predictions", "Predictor", "Scenario", "ScenarioError", "open_question",
            "recommend", "summarize", "load_prices", "cost_of"}


def test_all_is_sorted_and_is_the_lazy_map():
    assert whichmodel.__all__ == sorted(whichmodel.__all__)
    assert whichmodel.__all__ == sorted(whichmodel._EXPORTS)


def test_every_name_resolves_to_the_object_its_module_defines():
    for name, module in whichmodel._EXPORTS.items():
        defined = getattr(importlib.import_module(module), name)  # AttributeError: wrong map
        assert getattr(whichmodel, name) is defined, name


def missing_from(names: set[str]) -> set[str]:
    return set(names) - set(whichmodel.__all__)


def test_all_is_complete():
    for module in REEXPORTED_WHOLE:
        public = set(importlib.import_module(module).__all__)
        assert not missing_from(public), f"{module}.__all__ names not exported"
    called = set(re.findall(r"\bwhichmodel\.([A-Za-z_]\w*)\(", README.read_text("utf-8")))
    assert called and not missing_from(called), "names the README calls are not exported"
    assert not missing_from(PROMISED)


def test_completeness_check_can_fail(monkeypatch):
    # the check above must notice a name dropped from the map (as render_template was)
    monkeypatch.setattr(whichmodel, "__all__",
                        [n for n in whichmodel.__all__ if n != "render_template"])
    assert missing_from(set(importlib.import_module("whichmodel.data").__all__)) == {
        "render_template"}


def test_module_defines_no_public_name_outside_all():
    # In a fresh interpreter, after every lazy name resolved: anything else public in the
    # package namespace (a helper, an import) would be API nobody listed.
    code = ("import whichmodel as w\n"
            "[getattr(w, n) for n in w.__all__]\n"
            "print(sorted(n for n in vars(w) if not n.startswith('_') and n != 'annotations'"
            " and n not in w.__all__ and not type(getattr(w, n)).__name__ == 'module'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_import_is_light():
    code = "import sys, whichmodel; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
