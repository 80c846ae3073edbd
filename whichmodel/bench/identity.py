"""What a benchmark run *is*: the experiment it answers and the code that measured it.

A run's key (`whichmodel.bench.record.run_key`) is built from these, so that a rerun after
any change that alters the numbers runs again instead of being skipped as finished, and
so that `choose` never averages runs of two experiments:

* the experiment: the *content* of the train and test files (sha256 of their bytes, not
  their paths, so a project folder can move and an edited test file cannot hide), the
  fields read, the held-out split, label_sep and drop_invalid;
* the versions of whichmodel and of the ML libraries that compute the numbers (a new
  torch or scikit-learn can change accuracy and speed: re-measuring costs compute,
  mixing silently costs trust).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from whichmodel.bench.spec import DatasetSpec, ExperimentSpec
from whichmodel.errors import SpecError

# Packages whose version changes what a run measures; part of every run key.
CODE_PACKAGES = ("whichmodel", "torch", "transformers", "sentence-transformers",
                 "scikit-learn")
_HASH_CHUNK = 1 << 20
_fingerprints: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256


def code_versions() -> dict[str, str]:
    """Installed versions of `CODE_PACKAGES` (absent ones left out)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in CODE_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def experiment_identity(dataset: DatasetSpec) -> dict[str, Any]:
    """Everything about the data that changes results, as a JSON-ready dict.

    Local files count by content (sha256 of their bytes), so moving a project folder
    keeps its ledger valid and editing a test file in place does not; hub datasets and
    URIs count by name. The dataset's display identity is included because rows carry it.
    """
    held_out: dict[str, Any] = ({"test": source_fingerprint(dataset.test)} if dataset.test
                                else {"test_size": dataset.test_size,
                                      "split_seed": dataset.split_seed})
    validation: dict[str, Any] = ({"file": source_fingerprint(dataset.validation)}
                                  if dataset.validation
                                  else {"validation_size": dataset.validation_size})
    return {"dataset": dataset.identity, "train": source_fingerprint(dataset.train),
            "held_out": held_out, "validation": validation, "text": dataset.text,
            "label": dataset.label, "label_sep": dataset.label_sep,
            "drop_invalid": dataset.drop_invalid}


def experiment_id(spec: ExperimentSpec | DatasetSpec) -> str:
    """Short hash of `experiment_identity`: the ``experiment`` field of the spec's rows."""
    dataset = spec.dataset if isinstance(spec, ExperimentSpec) else spec
    payload = json.dumps(experiment_identity(dataset), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


def source_fingerprint(source: str) -> str:
    """``sha256:<hex>`` of a local file's bytes (a folder: of its files' names and bytes),
    else ``name:<source>`` for a hub dataset or URI. Cached per (path, size, mtime)."""
    path = Path(source)
    try:
        if path.is_file():
            return f"sha256:{_file_digest(path)}"
        if path.is_dir():
            digest = hashlib.sha256()
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                digest.update(child.relative_to(path).as_posix().encode("utf-8") + b"\0")
                digest.update(_file_digest(child).encode("ascii"))
            return f"sha256:{digest.hexdigest()}"
    except OSError as err:
        raise SpecError(f"dataset: cannot read {source} ({err.strerror or err}); check the "
                        "path and its permissions") from None
    return f"name:{source}"


def _file_digest(path: Path) -> str:
    stat = path.stat()
    cache_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if cache_key not in _fingerprints:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
                digest.update(chunk)
        _fingerprints[cache_key] = digest.hexdigest()
    return _fingerprints[cache_key]


def spec_id(spec: ExperimentSpec, experiment: str) -> str:
    """Which spec a ledger's price overrides belong to: its experiment and what it runs
    (candidates, budgets, seeds). Re-running the same spec with edited `prices:` replaces
    its own entry; another spec on the same data adds one beside it."""
    plan = [experiment, [[c.name, c.family, c.settings] for c in spec.candidates],
            [b.label for b in spec.budgets], spec.seeds]
    return hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode("utf-8")
                          ).hexdigest()[:12]


def describe_experiment(spec: ExperimentSpec) -> dict[str, Any]:
    """What `choose` lists when a ledger holds several experiments: the identity plus
    the paths as written (not part of the id) for a human to recognise."""
    d = spec.dataset
    return {**experiment_identity(d), "train_file": d.train_as_written or d.train,
            "test_file": (d.test_as_written or d.test) if d.test else None}
