"""The classifier protocol every family follows, the family registry, and the saved layout.

Why a template base class rather than a bare protocol: label encoding, multi-label
handling, timing, the data hash and the save layout are the same for every family, and
getting any of them subtly different per family (label order above all) is exactly the
class of bug the reference `setfit` library shipped. Families implement four hooks:

    _fit(texts, y, eval_texts, eval_y)   y: int class ids (n,) or a 0/1 matrix (n, k)
    _predict_proba(texts) -> (n, k)      columns follow classes_
    _save_state(directory)               safetensors / JSON only, never pickle
    _load_state(directory)

and `predict` is always derived from `predict_proba` here, so the two cannot disagree.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from whichmodel.errors import DataError, SettingError, WhichmodelError

MODEL_FILE = "whichmodel.json"
FORMAT_VERSION = 1

# Family name -> "module:Class". Imported lazily so that `import whichmodel` stays light
# and a family's heavy dependencies load only when it is used.
_FAMILIES: dict[str, str] = {
    "tfidf": "whichmodel.models.tfidf:TfidfClassifier",
    "embedding": "whichmodel.models.embedding:EmbeddingClassifier",
    "setfit": "whichmodel.models.setfit:SetFitClassifier",
}


class NotFittedError(RuntimeError):
    """Raised when predict/save is called before fit."""


class ModelFileError(WhichmodelError, ValueError):
    """A saved-model directory is missing, incomplete or from an unknown family."""


def register_family(name: str, target: str) -> None:
    """Register a classifier family as ``"package.module:ClassName"`` (imported on use)."""
    _FAMILIES[name] = target


def available_families() -> list[str]:
    """Names accepted by `get_family`, sorted."""
    return sorted(_FAMILIES)


def get_family(name: str) -> type[Classifier]:
    """Return the classifier class registered under ``name``."""
    try:
        target = _FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown model family {name!r}; choose one of: {', '.join(available_families())}"
        ) from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def family_settings(family: str) -> list[str]:
    """Names of the keyword settings a family's constructor accepts, in signature order."""
    return get_family(family)._param_names()


def build_classifier(family: str, **settings: Any) -> Classifier:
    """Build an unfitted classifier of ``family`` from plain keyword settings."""
    return get_family(family)(**settings)


def load_model(directory: str | Path) -> Classifier:
    """Load any saved whichmodel classifier; dispatches on the family in whichmodel.json."""
    meta = read_model_meta(directory)
    if meta["family"] not in _FAMILIES:
        raise ModelFileError(f"{directory} holds a model of family {meta['family']!r}, which "
                             f"this whichmodel does not know ({', '.join(available_families())})"
                             "; upgrade whichmodel or retrain")
    return get_family(meta["family"]).load(directory)


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


# Files an earlier whichmodel (before models listed their files) wrote into a model folder;
# `body/` holds a sentence-transformers folder. Anything else there is the user's.
_LEGACY_FILES = {MODEL_FILE, "README.md", "head.safetensors", "head.json", "vocabulary.json",
                 "idf.safetensors", "setfit.json"}


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
            raise ModelFileError(f"{path}: class {_short(c)} is not a label name; the "
                                 "model folder is damaged: retrain the model or restore it")
        key = json.dumps(c)
        if key in seen:
            raise ModelFileError(f"{path}: class {_short(c)} is listed twice, so two "
                                 "columns of the head would share one name; the model folder "
                                 "is damaged: retrain the model or restore it")
        seen.add(key)
    return meta


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


class Classifier:
    """Base of every whichmodel family: scikit-learn style, with a safe save layout.

    Subclasses declare their settings as keyword arguments of ``__init__`` and only
    store them there. Learned state ends in ``_``.
    """

    family: ClassVar[str] = ""
    # Whether `fit` uses an evaluation split (to early-stop); the others ignore it.
    uses_eval_split: ClassVar[bool] = False

    # -- scikit-learn parameter protocol ------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind in kinds]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """Constructor settings, as plain values (what the benchmark runner clones from)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Classifier:
        """Change settings in place; unknown names raise, as in scikit-learn."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise SettingError(f"{type(self).__name__} has no setting {name!r}; "
                                   f"settings are: {', '.join(sorted(valid))}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def score(self, texts: Sequence[str], labels: Sequence[Any]) -> float:
        """Accuracy (exact match when multi-label): scikit-learn's default score, so
        `GridSearchCV` and `cross_val_score` work on a whichmodel classifier as they are."""
        predicted = self.predict(texts)
        labels = list(labels)
        if len(labels) != len(predicted):
            raise ValueError(f"got {len(predicted)} texts but {len(labels)} labels")
        if self.multi_label_:
            hits = [set(p) == set(t) for p, t in zip(predicted, labels)]
        else:
            hits = [p == _native(t) for p, t in zip(predicted, labels)]
        return float(np.mean(hits)) if hits else 0.0

    def __sklearn_tags__(self) -> Any:
        """Tell scikit-learn this is a classifier of raw texts (a list of str, not a matrix),
        so its model-selection tools stratify folds and index rows correctly."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(multi_label=True),
                    input_tags=InputTags(one_d_array=True, two_d_array=False, string=True))

    def check_settings(self) -> None:
        """Raise `SettingError` naming the first setting whose value cannot work.

        `fit` runs it before touching the data, and a bench spec runs it when it is read,
        so a bad value stops in one line instead of as a traceback mid-training. Families
        override it (`whichmodel.models.setting_checks` has the checks).
        """

    # -- public protocol ------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[Any], *,
            eval_texts: Sequence[str] | None = None,
            eval_labels: Sequence[Any] | None = None) -> Classifier:
        """Learn from ``texts`` and ``labels``; returns self.

        Labels are scalars (single-label) or lists of labels (multi-label). An optional
        evaluation split is used by families that early-stop.
        """
        texts = _as_texts(texts)
        labels = list(labels)
        self.check_settings()
        if len(texts) != len(labels):
            raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise DataError("cannot fit on zero examples")
        self.multi_label_, labels = _checked_labels(labels)
        if self.multi_label_:
            self.classes_ = _class_order({c for row in labels for c in row})
            if not self.classes_:
                raise DataError("no row has a label: multi-label training needs at least "
                                "one labelled row")
        else:
            self.classes_ = _class_order(set(labels))
        if len(self.classes_) < 2 and not self.multi_label_:
            raise DataError(f"need at least 2 classes to train, found only {self.classes_}; "
                            "add labelled examples of at least one other class")
        y = self._encode(labels)
        eval_y = None
        if eval_texts is not None and eval_labels is not None:
            eval_texts = _as_texts(eval_texts)
            eval_y = self._encode(list(eval_labels), ignore_unknown=True)
        started = time.perf_counter()
        self._fit(texts, y, eval_texts, eval_y)
        self.training_ = {
            "train_seconds": round(time.perf_counter() - started, 3),
            "n_examples": len(texts),
            "data_hash": data_hash(texts, labels),
        }
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (n, len(classes_)); columns follow ``classes_``."""
        self._check_fitted()
        texts = _as_texts(texts)
        if not texts:
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        return np.asarray(self._predict_proba(texts))

    def predict(self, texts: Sequence[str]) -> list[Any]:
        """Labels: argmax of `predict_proba` (lists above ``threshold`` if multi-label)."""
        return self.decode(self.predict_proba(texts))

    def decode(self, proba: np.ndarray) -> list[Any]:
        """Turn a probability matrix into labels, the single rule `predict` uses."""
        if getattr(self, "multi_label_", False):
            threshold = getattr(self, "threshold", 0.5)
            return [[c for c, p in zip(self.classes_, row) if p >= threshold] for row in proba]
        return [self.classes_[i] for i in np.argmax(proba, axis=1)]

    def save(self, directory: str | Path) -> Path:
        """Write the model to ``directory`` atomically (a temp dir renamed into place).

        ``directory`` must be new, empty, or an earlier model (see `check_save_target`).
        """
        self._check_fitted()
        directory = check_save_target(directory)
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ModelFileError(f"cannot create {directory.parent} to save the model in: "
                                 f"{err.strerror}; choose another --out") from None
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        old: Path | None = None
        try:
            self._save_state(tmp)
            meta = {
                "format_version": FORMAT_VERSION,
                "family": self.family,
                "settings": _jsonable(self.get_params()),
                "classes": list(self.classes_),
                "multi_label": self.multi_label_,
                "training": getattr(self, "training_", {}),
                "versions": library_versions(),
            }
            fields = getattr(self, "input_fields_", None)
            if fields:
                meta["input_fields"] = fields
            (tmp / "README.md").write_text(self._model_card(meta), encoding="utf-8")
            # What whichmodel wrote, with sizes: only these may be replaced by a later save,
            # and a truncated or missing file is named when the model is loaded.
            meta["files"] = model_files(tmp)
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

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        """Load a model saved by `save`; never unpickles."""
        if not cls.family:  # Classifier.load: whichever family the folder holds
            return load_model(directory)
        directory = model_directory(directory)
        meta = read_model_meta(directory)
        if meta["family"] != cls.family:
            raise ModelFileError(f"{directory} holds a {meta['family']!r} model, "
                                 f"not {cls.family!r}; use whichmodel.load_model()")
        try:
            model = cls(**meta["settings"])
            model.check_settings()
        except (TypeError, SettingError) as err:
            raise ModelFileError(f"{directory}/{MODEL_FILE}: its settings do not fit family "
                                 f"{cls.family!r} ({err})") from None
        model.classes_ = meta["classes"]
        model.multi_label_ = meta["multi_label"]
        model.training_ = meta.get("training", {})
        if isinstance(meta.get("input_fields"), dict):
            model.input_fields_ = meta["input_fields"]
        check_model_files(Path(directory), meta)
        try:
            model._load_state(Path(directory))
        except (WhichmodelError, KeyboardInterrupt, MemoryError):
            raise
        except Exception as err:  # safetensors, JSON, transformers: each its own types
            detail = " ".join(str(err).split())[:300]
            raise ModelFileError(f"{directory}: cannot load the saved weights "
                                 f"({type(err).__name__}: {detail}); the model folder is "
                                 "damaged: retrain the model or restore the folder from a "
                                 "copy") from None
        head = getattr(model, "head_", None)
        if head is not None and (head.n_classes, head.multi_label) != (
                len(model.classes_), model.multi_label_):
            raise ModelFileError(
                f"{directory}: {MODEL_FILE} lists {len(model.classes_)} "
                f"{'multi-label ' if model.multi_label_ else ''}classes, but the head "
                f"scores {head.n_classes}{' multi-label' if head.multi_label else ''}; the "
                "model folder is damaged (or edited): save or train it again")
        return model

    # -- hooks for families ------------------------------------------------------------
    def _fit(self, texts: list[str], y: np.ndarray, eval_texts: list[str] | None,
             eval_y: np.ndarray | None) -> None:
        raise NotImplementedError

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _save_state(self, directory: Path) -> None:
        raise NotImplementedError

    def _load_state(self, directory: Path) -> None:
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit()")

    def _encode(self, labels: list[Any], ignore_unknown: bool = False) -> np.ndarray:
        """Class ids (n,) for single-label, a 0/1 float32 matrix (n, k) for multi-label."""
        index = {c: i for i, c in enumerate(self.classes_)}
        if self.multi_label_:
            y = np.zeros((len(labels), len(self.classes_)), dtype=np.float32)
            for row, label_set in enumerate(labels):
                for c in label_set:
                    if c in index:
                        y[row, index[c]] = 1.0
            return y
        if ignore_unknown:
            return np.array([index.get(c, -1) for c in labels], dtype=np.int64)
        return np.array([index[c] for c in labels], dtype=np.int64)

    def _model_card(self, meta: dict[str, Any]) -> str:
        classes = ", ".join(map(str, meta["classes"][:20]))
        more = " …" if len(meta["classes"]) > 20 else ""
        training = meta.get("training", {})
        return (
            "---\nlibrary_name: whichmodel\ntags:\n- text-classification\n"
            f"- whichmodel-{self.family}\n---\n\n"
            f"# whichmodel `{self.family}` classifier\n\n"
            f"- classes ({len(meta['classes'])}): {classes}{more}\n"
            f"- multi-label: {meta['multi_label']}\n"
            f"- trained on {training.get('n_examples', '?')} examples in "
            f"{training.get('train_seconds', '?')} s (data hash {training.get('data_hash', '?')})\n"
            f"- settings: `{json.dumps(meta['settings'])}`\n\n"
            "Load it with:\n\n```python\nimport whichmodel\n"
            "model = whichmodel.load_model('path/to/this/folder')\n"
            "model.predict(['some text'])\n```\n"
        )


def _as_texts(texts: Sequence[str]) -> list[str]:
    """A list of str, or a `DataError` naming the first item that is not text: a None,
    NaN or number silently turned into "None"/"nan"/"5" would be classified as if real."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("expected a sequence of texts, got a single "
                        f"{type(texts).__name__}; wrap it in a list")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):  # np.str_ is a str
            raise DataError(f"texts[{i}] is {text!r} ({type(text).__name__}), not a string; "
                            "drop or fill missing texts before calling whichmodel")
    return [str(t) for t in out]


_LABEL_ROW = (list, tuple, set, frozenset)


def _is_missing(label: Any) -> bool:
    return label is None or (isinstance(label, float) and math.isnan(label))


def _checked_labels(labels: list[Any]) -> tuple[bool, list[Any]]:
    """(multi_label, labels as plain Python values), or a `DataError` naming the first bad
    row: a missing label (None, NaN), or single labels mixed with lists of labels.

    numpy scalars (np.int64 labels from a DataFrame column) become Python values, so that
    classes_ are what JSON, and therefore save/load, can hold.
    """
    multi = any(isinstance(row, _LABEL_ROW) for row in labels)
    for i, row in enumerate(labels):
        if isinstance(row, np.ndarray):
            raise DataError(f"labels[{i}] is a numpy array; give each row's labels as a "
                            "list of names (indicator matrices are not read)")
        if multi and not isinstance(row, _LABEL_ROW):
            raise DataError(f"labels[{i}] is {row!r}, but other rows are lists of labels; "
                            "give every row a list (e.g. [{row!r}])")
        values = row if multi else [row]
        if any(_is_missing(_native(c)) for c in values):
            raise DataError(f"labels[{i}] is missing ({row!r}); label the row or drop it")
    if multi:
        return True, [[_native(c) for c in row] for row in labels]
    return False, [_native(c) for c in labels]


def _class_order(classes: set[Any]) -> list[Any]:
    """Numbers in numeric order (1, 2, 10), anything else by its text, so the column order
    of `predict_proba` is the one a reader expects and never depends on hashing."""
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in classes):
        return sorted(classes)
    return sorted(classes, key=str)


def _jsonable(value: Any) -> Any:
    """Settings must round-trip through JSON; tuples become lists, numpy numbers Python
    ones (np.int64(3) stays the number 3), anything else its string."""
    return json.loads(json.dumps(
        value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a damaged file must not flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} chars)"


def _native(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value
