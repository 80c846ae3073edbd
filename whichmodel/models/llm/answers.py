"""From an LLM's answer text to a label and a probability row: never a guess.

`match_label` accepts the label exactly, or after normalising what small models and
unconstrained servers wrap around it (case, whitespace, punctuation, underscores, a JSON
object such as ``{"label": "..."}``, a code fence, a leading ``Label:``), and returns
None for anything else: an answer that names no label, or that could be two, is
*unparseable* and the model reports it as such instead of mapping it to a class.

`label_probabilities` turns the answer tokens' log-probabilities (``logprobs`` with
``top_logprobs`` in the OpenAI chat format) into a distribution over the labels. The
answered label gets the probability of its own tokens; every alternative token offered
at a position inside the label, where the answer could still have become another label,
gives its probability (times that of the tokens before it) to the labels it leads to,
shared evenly. The row is then normalised over labels. It is an estimate from the top
alternatives the server reports (labels none of them leads to get 0), not a full
enumeration (the ``local`` backend scores every label exactly). Servers that report
log-probabilities before a grammar constrains the answer (llama.cpp does) offer tokens
that lead to no label; those are dropped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*(.*?)\s*```\s*$", re.DOTALL)
_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:label|answer|category|class|intent)\b\s*(?:is\b)?\s*"
                     r"[:=\-]?\s*", re.IGNORECASE)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower case, every run of punctuation, underscores and spaces one space, stripped."""
    return _NOT_WORD.sub(" ", str(text).casefold()).strip()


def label_index(classes: Sequence[str]) -> dict[str, str]:
    """Normalised form → class, leaving out forms two classes share (those need the
    exact text)."""
    seen: dict[str, list[str]] = {}
    for c in classes:
        seen.setdefault(normalise(c), []).append(c)
    return {form: names[0] for form, names in seen.items() if len(names) == 1 and form}


def match_label(content: str | None, classes: Sequence[str],
                index: dict[str, str] | None = None) -> str | None:
    """The class ``content`` names, or None when it names none (or is ambiguous)."""
    if content is None:
        return None
    known = set(classes)
    index = label_index(classes) if index is None else index
    for candidate in _candidates(str(content)):
        if candidate in known:
            return candidate
        stripped = candidate.strip().strip("\"'`.").strip()
        if stripped in known:
            return stripped
        for form in (normalise(candidate), normalise(_PREFIX.sub("", candidate, count=1))):
            if form in index:
                return index[form]
    return None


def _candidates(content: str) -> list[str]:
    """The strings an answer may hold its label in: a JSON object's single text value or
    its ``label`` field, a JSON string, the text inside a code fence, the text itself."""
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    out: list[str] = []
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, dict):
        for key in ("label", "Label", "answer", "category", "class", "intent"):
            if isinstance(value.get(key), str):
                out.append(value[key])
                break
        else:
            texts = [v for v in value.values() if isinstance(v, str)]
            if len(texts) == 1:
                out.append(texts[0])
    elif isinstance(value, str):
        out.append(value)
    out.append(text)
    return out


def one_hot(label: str | None, classes: Sequence[str]) -> np.ndarray:
    """Probability 1 on ``label``; all zeros for None (no answer: no class chosen)."""
    row = np.zeros(len(classes), dtype=np.float32)
    if label is not None:
        row[list(classes).index(label)] = 1.0
    return row


def label_probabilities(tokens: Sequence[dict[str, Any]] | None, classes: Sequence[str],
                        answered: str) -> np.ndarray | None:
    """A probability row over ``classes`` from the answer's token log-probabilities, or
    None when they cannot be lined up with the ``answered`` label (then the caller puts
    1.0 on it). See the module docstring for the estimate."""
    if not tokens:
        return None
    texts = [t.get("token") for t in tokens]
    if not all(isinstance(t, str) for t in texts):
        return None
    # The tokens' own text, which may wrap the content the server returns (llama.cpp
    # reports a ```json fence it strips from the content).
    content = "".join(texts)
    span = _label_span(content, answered)
    if span is None:
        return None  # byte-split characters, or tokens that do not spell the answer
    start, end, closing = span
    encoded = {c: _encoded(c) + closing for c in classes}
    mass = dict.fromkeys(classes, 0.0)
    offset, before = 0, 0.0  # log-probability of the answer's tokens inside the label so far
    for token, text in zip(tokens, texts):
        token_start, offset = offset, offset + len(text)
        if offset <= start or token_start >= end:
            continue
        lead = content[token_start:start] if token_start < start else ""
        decided = content[start:max(start, token_start)]
        for alternative in token.get("top_logprobs") or []:
            alt = alternative.get("token")
            logprob = alternative.get("logprob")
            if not isinstance(alt, str) or alt == text or not _finite(logprob):
                continue
            if not alt.startswith(lead):
                continue
            reached = decided + alt[len(lead):]
            leads_to = [c for c in classes if _consistent(encoded[c], reached, closing)]
            if not leads_to or answered in leads_to:
                continue  # no label, or another spelling of the answer's own path
            share = math.exp(before + float(logprob)) / len(leads_to)
            for c in leads_to:
                mass[c] += share
        if not _finite(token.get("logprob")):
            return None
        before += float(token["logprob"])
    mass[answered] = math.exp(before)
    total = sum(mass.values())
    if not total > 0:
        return None
    return np.array([mass[c] / total for c in classes], dtype=np.float32)


def _label_span(content: str, label: str) -> tuple[int, int, str] | None:
    """(start, end, closing) of ``label`` in the answer: inside the JSON string after a
    ``"label":`` key (closing ``"``), else the label as the whole stripped answer."""
    quoted = json.dumps(label)
    match = re.search(r'"label"\s*:\s*' + re.escape(quoted), content)
    if match:
        end = match.end() - 1
        return end - len(quoted) + 2, end, '"'
    stripped = content.strip()
    if stripped == label:
        start = content.index(label)
        return start, start + len(label), ""
    return None


def _encoded(label: str) -> str:
    return json.dumps(label)[1:-1]


def _consistent(encoded: str, reached: str, closing: str) -> bool:
    """Whether an answer that has reached the text ``reached`` may still end as the label
    whose text (with its closing quote) is ``encoded``."""
    return encoded.startswith(reached) or bool(closing) and reached.startswith(encoded)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)
