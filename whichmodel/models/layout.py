"""The saved model folder: ``whichmodel.json``, the model card, and how a folder is written.

A saved model is a folder any family writes the same way (see ARCHITECTURE.md, "Saved
model layout"): the family's own files (safetensors, JSON, a sentence-transformers or
transformers folder for a body), a model card ``README.md``, and ``whichmodel.json``,
which says what the folder holds (family, settings, classes, training metadata, library
versions) and lists every file written, with its size. This module owns that format both
ways, writing (`model_meta`, `model_card`, `write_model`) and reading (`read_model_meta`,
`check_model_files`), and the checks that keep a save from deleting a user's files
(`check_save_target`). The checks that hold for any family's weights live here too
(`check_weights_folder`, `check_finite_weights`), so families check only what is theirs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from whichmodel.errors import WhichmodelError, quote

MODEL_FILE = "whichmodel.json"
CARD_FILE = "README.md"
FORMAT_VERSION = 1

# Files an earlier whichmodel (before models listed their files) wrote into a model folder;
# `body/` holds a sentence-transformers folder. Anything else there is the user's.
_LEGACY_FILES = {MODEL_FILE, CARD_FILE, "head.safetensors", "head.json", "vocabulary.json",
                 "idf.safetensors", "setfit.json"}


class ModelFileError(WhichmodelError, ValueError):
    """A saved-model directory is missing, incomplete or from an unknown family."""


# -- writing -------------------------------------------------------------------------------
def model_meta(*, family: str, settings: dict[str, Any], classes: Sequence[Any],
               multi_label: bool, training: dict[str, Any],
               input_fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The contents of ``whichmodel.json`` but its file list (`write_model` adds that)."""
    meta = {
        "format_version": FORMAT_VERSION,
        "family": family,
        "settings": settings,
        "classes": list(classes),
        "multi_label": multi_label,
        "training": training,
        "versions": library_versions(),
    }
    if input_fields:
        meta["input_fields"] = input_fields
    return meta


def model_card(meta: dict[str, Any]) -> str:
    """The model card (``README.md`` with YAML front matter) for a model's ``meta``."""
    family = meta["family"]
    classes = ", ".join(map(str, meta["classes"][:20]))
    more = " …" if len(meta["classes"]) > 20 else ""
    training = meta.get("training", {})
    return (
        "---\nlibrary_name: whichmodel\ntags:\n- text-classification\n"
        f"- whichmodel-{family}\n---\n\n"
        f"# whichmodel `{family}` classifier\n\n"
        f"- classes ({len(meta['classes'])}): {classes}{more}\n"
        f"- multi-label: {meta['multi_label']}\n"
        f"- trained on {training.get('n_examples', '?')} examples in "
        f"{training.get('train_seconds', '?')} s (data hash {training.get('data_hash', '?')})\n"
        f"- settings: `{json.dumps(meta['settings'])}`\n\n"
        "Load it with:\n\n```python\nimport whichmodel\n"
        "model = whichmodel.load_model('path/to/this/folder')\n"
        "model.predict(['some text'])\n```\n"
    )


def write_model(directory: str | Path, meta: dict[str, Any],
                write_state: Callable[[Path], None],
                card: Callable[[dict[str, Any]], str] = model_card) -> Path:
    """Write a model folder atomically; returns its absolute path.

    ``write_state(folder)`` writes the family's files; then come the card and
    ``whichmodel.json`` (``meta`` plus the list of files written). All of it goes into a
    temporary sibling folder renamed into place, so a crash never leaves a half-written
    model; an earlier model there is moved aside first and put back if the rename fails.
    ``directory`` must pass `check_save_target`.
    """
    directory = check_save_target(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ModelFileError(f"cannot create {directory.parent} to save the model in: "
                             f"{err.strerror}; choose another --out") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    old: Path | None = None
    try:
        write_state(tmp)
        (tmp / CARD_FILE).write_text(card(meta), encoding="utf-8")
        # What whichmodel wrote, with sizes: only these may be replaced by a later save,
        # and a truncated or missing file is named when the model is loaded.
        meta = {**meta, "files": model_files(tmp)}
        (tmp / MODEL_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if directory.exists():  # an earlier model: moved aside until the new one is in
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}-old-",
                                        dir=directory.parent))
            directory.rename(old / "model")
        tmp.rename(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "model").exists() and not directory.exists():
            (old / "model").rename(directory)  # put the earlier model back
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return directory


def check_save_target(directory: str | Path, *, reads: Sequence[str | Path] = ()) -> Path:
    """The absolute folder a model may be saved to, or a `ModelFileError` saying why not.

    Saving replaces the folder, so only a new folder, an empty one or an earlier whichmodel
    model qualifies, and a model only when its ``whichmodel.json`` is valid and the folder
    holds nothing but the files whichmodel wrote there (`model_files`): a slip in ``--out``
    (``.``, a data folder, a file, a folder that merely has a ``whichmodel.json``) must never
    delete the user's files. ``reads`` are the files the command reads (its data): a target
    that holds one of them is refused, whatever else it holds. Callers check before
    training, so the refusal costs nothing.
    """
    path = _resolved(directory, "--out")
    cwd = Path.cwd().resolve()
    if path == cwd or path in cwd.parents:
        raise ModelFileError(f"will not save a model over {str(directory)!r} (the current "
                             "folder or one above it); give a new folder name, e.g. --out "
                             "models/mine")
    if path.exists() and not path.is_dir():
        raise ModelFileError(f"cannot save a model to {directory}: it is a file; give a "
                             "folder name")
    for read in reads:
        source = _resolved(read, "input")
        if source == path or path in source.parents:
            raise ModelFileError(f"will not save a model to {directory}: it holds {read}, "
                                 "which this command reads; give another --out")
    if path.is_dir() and any(path.iterdir()):
        if not (path / MODEL_FILE).is_file():
            raise ModelFileError(f"will not save a model to {directory}: the folder holds "
                                 f"files and no {MODEL_FILE}, so it is not an earlier model "
                                 "that may be replaced; give a new or empty folder")
        try:
            meta = read_model_meta(path)
        except ModelFileError as err:
            raise ModelFileError(f"will not save a model to {directory}: it is not a valid "
                                 f"earlier model ({err}), so its files may be the user's; give "
                                 "a new or empty folder") from None
        foreign = foreign_files(path, meta)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more"
                                              if len(foreign) > 3 else "")
            raise ModelFileError(f"will not save a model to {directory}: besides an earlier "
                                 f"model it holds files whichmodel did not write ({shown}); "
                                 "move them out or give a new folder")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ModelFileError(f"cannot save a model to {directory}: {ancestor} is not a folder "
                             "this user can write to; choose another --out")
    return path


def _resolved(path: str | Path, what: str) -> Path:
    """``path`` made absolute, or a `ModelFileError` for a symlink loop (pathlib raises
    RuntimeError or OSError for one, depending on the Python version)."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as err:
        raise ModelFileError(f"{what} {path}: cannot resolve the path ({err}); a symbolic "
                             "link in it may point to itself") from None


def model_files(directory: Path) -> dict[str, int]:
    """Every file under ``directory`` (relative POSIX path → size in bytes)."""
    return {p.relative_to(directory).as_posix(): p.stat().st_size
            for p in sorted(directory.rglob("*")) if p.is_file() or p.is_symlink()}


def foreign_files(directory: Path, meta: dict[str, Any]) -> list[str]:
    """Files in a model folder that whichmodel did not write there (sorted)."""
    listed = meta.get("files")
    present = [p.relative_to(directory).as_posix() for p in sorted(directory.rglob("*"))
               if not p.is_dir() or p.is_symlink()]
    if isinstance(listed, dict):
        known = set(listed) | {MODEL_FILE}
        return [p for p in present if p not in known]
    return [p for p in present if p not in _LEGACY_FILES and not p.startswith("body/")]


# -- reading -------------------------------------------------------------------------------
def model_directory(path: str | Path) -> Path:
    """The model folder, also when its ``whichmodel.json`` itself was given."""
    path = Path(path)
    return path.parent if path.name == MODEL_FILE and path.is_file() else path


def read_model_meta(directory: str | Path) -> dict[str, Any]:
    """Read and check ``whichmodel.json`` of a saved model directory."""
    directory = model_directory(directory)
    path = directory / MODEL_FILE
    if not path.is_file():
        raise ModelFileError(
            f"{directory} is not a saved whichmodel model: {MODEL_FILE} not found. "
            "Train one with `whichmodel train ... --out DIR`."
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{path} is not valid JSON ({err}); the model folder is "
                             "damaged: save or train it again") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path} holds a {type(meta).__name__}, not the model's "
                             "description; the model folder is damaged")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format_version {meta.get('format_version')!r} is not supported "
            f"(this whichmodel reads version {FORMAT_VERSION})"
        )
    expected = {"family": str, "settings": dict, "classes": list, "multi_label": bool}
    for field, kind in expected.items():
        if not isinstance(meta.get(field), kind):
            raise ModelFileError(f"{path}: field {field!r} is missing or not a "
                                 f"{kind.__name__}; the model folder is damaged")
    if len(meta["classes"]) < (1 if meta["multi_label"] else 2):
        raise ModelFileError(f"{path}: {len(meta['classes'])} class(es) listed; the model "
                             "folder is damaged")
    seen: set[str] = set()
    for c in meta["classes"]:
        if not isinstance(c, (str, int, float)) or isinstance(c, bool):
            raise ModelFileError(f"{path}: class {quote(c, 60)} is not a label name; the "
                                 "model folder is damaged: retrain the model or restore it")
        key = json.dumps(c)
        if key in seen:
            raise ModelFileError(f"{path}: class {quote(c, 60)} is listed twice, so two "
                                 "columns of the head would share one name; the model folder "
                                 "is damaged: retrain the model or restore it")
        seen.add(key)
    return meta


def check_model_files(directory: Path, meta: dict[str, Any]) -> None:
    """A `ModelFileError` naming the first file the model lists that is missing or whose
    size differs from what was written (truncated, or replaced): loading would otherwise
    fail deep inside safetensors or transformers with a traceback."""
    listed = meta.get("files")
    if not isinstance(listed, dict):
        return  # written before models listed their files
    for name, size in listed.items():
        path = directory / name
        if not path.is_file():
            raise ModelFileError(f"{path} is missing: the model folder is damaged; retrain "
                                 "the model or restore the folder from a copy")
        if isinstance(size, int) and path.stat().st_size != size:
            raise ModelFileError(f"{path} has {path.stat().st_size:,} bytes, but {size:,} "
                                 "were written: it is truncated or was changed; retrain the "
                                 "model or restore the folder from a copy")


def check_weights_folder(folder: Path) -> None:
    """A `ModelFileError` unless ``folder`` (a saved body: sentence-transformers or
    transformers layout) exists and holds safetensors weights; a folder with pickled
    weights only is refused, since loading it would unpickle."""
    from whichmodel.backbones import BackboneError, refuse_pickled_weights

    if not folder.is_dir():
        raise ModelFileError(f"{folder} is missing: the model folder is damaged; retrain "
                             "the model or restore the folder from a copy")
    try:
        refuse_pickled_weights(folder, str(folder))
    except BackboneError as err:
        raise ModelFileError(f"{folder}: {err}") from None
    if not any(folder.rglob("*.safetensors")):
        raise ModelFileError(f"{folder} has no safetensors weights: the model folder is "
                             "damaged; retrain the model or restore the folder")


def check_finite_weights(module: Any, folder: Path) -> None:
    """A `ModelFileError` when a loaded torch ``module`` (read from ``folder``) holds NaN or
    infinite weights: every prediction it made would be meaningless."""
    import torch

    if not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
        raise ModelFileError(f"{folder}: the body's weights hold NaN or infinite values; "
                             "retrain the model or restore the folder")


# -- provenance ----------------------------------------------------------------------------
def data_hash(texts: Sequence[str], labels: Sequence[Any]) -> str:
    """A short content hash of the training data, stored with the model for provenance."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels):
        digest.update(text.encode("utf-8"))
        digest.update(b"\x1f")
        digest.update(json.dumps(label, sort_keys=True, default=str).encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()[:16]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a saved model depends on (for reproducibility)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("whichmodel", "numpy", "scikit-learn", "torch", "transformers",
                 "sentence-transformers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
