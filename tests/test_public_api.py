"""The public API: sorted, complete, importable, and light to import."""

from __future__ import annotations

import subprocess
import sys

import whichmodel


def test_all_is_sorted_and_resolvable():
    assert whichmodel.__all__ == sorted(whichmodel.__all__)
    for name in whichmodel.__all__:
        assert getattr(whichmodel, name) is not None, name


def test_all_is_complete():
    # every public (non-underscore) module-level name is exported, nothing else is
    import types

    public = {n for n in dir(whichmodel) if not n.startswith("_") and n != "annotations"
              and not isinstance(getattr(whichmodel, n), types.ModuleType)}
    assert public == set(whichmodel.__all__)


def test_import_is_light():
    code = "import sys, whichmodel; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
