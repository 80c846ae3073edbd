"""The prompt an LLM classifier sends: a template over the task, the labels, a few
examples and the text, and the choice of those examples (at random or nearest by
embedding).

The template is a setting (saved with the model), a `str.format` string with the
placeholders ``{task}``, ``{labels}``, ``{examples}`` and ``{text}`` (literal braces are
doubled: ``{{``). ``{text}`` comes last in the default so that everything before it is
the same for every item: servers that cache the key/value state of a shared prompt
prefix (llama.cpp, vLLM, OpenAI's prompt caching) then compute only the item's own
tokens. Nearest-neighbour examples differ per item and so come just before the text.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from whichmodel.errors import SettingError, quote

PLACEHOLDERS = ("task", "labels", "examples", "text")
SHOT_SELECTIONS = ("random", "nearest")

DEFAULT_TASK = "Classify the text into exactly one of the labels below."
DEFAULT_TEMPLATE = (
    "{task}\n"
    "\n"
    "Labels:\n"
    "{labels}\n"
    "\n"
    "{examples}"
    "Text: {text}\n"
    "Answer with the one label from the list that fits the text best."
)


@dataclass(frozen=True)
class Shot:
    """One labelled example shown in the prompt."""

    text: str
    label: str


def check_template(template: Any) -> None:
    """Raise `SettingError` unless ``template`` is a format string whose only fields are
    the known placeholders and which has ``{text}``."""
    if not isinstance(template, str) or not template.strip():
        raise SettingError(f"llm: prompt_template must be a text with {{text}} in it, got "
                           f"{quote(template)}", setting="prompt_template")
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as err:  # a lone "{" or "}"
        raise SettingError(f"llm: prompt_template is not a valid template ({err}); write "
                           "literal braces as {{ and }}", setting="prompt_template") from None
    unknown = [name for name in fields if name not in PLACEHOLDERS]
    if unknown:
        raise SettingError(f"llm: prompt_template has the unknown placeholder "
                           f"{{{unknown[0]}}}; placeholders are "
                           f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)} (write literal "
                           "braces as {{ and }})", setting="prompt_template")
    if "text" not in fields:
        raise SettingError("llm: prompt_template must contain {text}, where the item's text "
                           "goes", setting="prompt_template")


def render_labels(classes: Sequence[str], descriptions: Mapping[str, str] | None) -> str:
    """One line per label, ``- name`` or ``- name: description``, in class order."""
    descriptions = descriptions or {}
    return "\n".join(f"- {c}: {descriptions[c]}" if descriptions.get(c) else f"- {c}"
                     for c in classes)


def render_examples(shots: Sequence[Shot]) -> str:
    """The examples block (empty without shots), ending in a blank line."""
    if not shots:
        return ""
    body = "\n\n".join(f"Text: {_one_line(s.text)}\nLabel: {s.label}" for s in shots)
    return f"Examples:\n\n{body}\n\n"


def render_prompt(template: str, *, task: str, labels_block: str, shots: Sequence[Shot],
                  text: str) -> str:
    """The prompt of one item. ``labels_block`` is `render_labels`' output (the same for
    every item, so it is rendered once)."""
    return template.format(task=task, labels=labels_block, examples=render_examples(shots),
                           text=_one_line(text))


def _one_line(text: str) -> str:
    # A text's own line breaks would read as the end of the "Text:" line.
    return " ".join(str(text).split())


# -- shot selection -----------------------------------------------------------------------
def random_shots(pool: Sequence[Shot], k: int, seed: int) -> list[Shot]:
    """``k`` examples drawn from ``pool`` with ``seed``, spread over the labels as evenly
    as the pool allows (round robin over labels in a seeded order), shown in a seeded
    order; the same for every item."""
    k = min(k, len(pool))
    if k <= 0:
        return []
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, shot in enumerate(pool):
        by_label.setdefault(shot.label, []).append(i)
    queues = {label: [rows[j] for j in rng.permutation(len(rows))]
              for label, rows in sorted(by_label.items())}
    order = [sorted(queues)[j] for j in rng.permutation(len(queues))]
    chosen: list[int] = []
    while len(chosen) < k:
        for label in order:
            if queues[label] and len(chosen) < k:
                chosen.append(queues[label].pop())
    return [pool[i] for i in (chosen[j] for j in rng.permutation(len(chosen)))]


def nearest_shots(pool: Sequence[Shot], pool_vectors: np.ndarray, vectors: np.ndarray,
                  k: int) -> list[list[Shot]]:
    """Per item (a row of ``vectors``, L2-normalised like ``pool_vectors``) the ``k`` pool
    examples of highest cosine similarity, least similar first so the most similar
    example sits next to the item's text."""
    if k <= 0 or not len(vectors):
        return [[] for _ in range(len(vectors))]
    similarity = np.asarray(vectors, dtype=np.float32) @ np.asarray(pool_vectors,
                                                                  dtype=np.float32).T
    k = min(k, len(pool))
    top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    out = []
    for row, candidates in zip(similarity, top):
        ranked = candidates[np.argsort(row[candidates], kind="stable")]  # ascending
        out.append([pool[i] for i in ranked])
    return out
