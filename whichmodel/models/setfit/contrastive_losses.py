"""Contrastive objectives over all pairs inside a batch, from one embedding per sentence.

Every loss takes the batch's embeddings ``emb`` (B, d) and a boolean ``similar`` matrix
(B, B) saying which pairs share a label, and scores all B·(B−1)/2 off-diagonal pairs; the
diagonal (an example with itself) is always excluded.

Which pairs are similar (`similarity_targets`):
* single-label: same class;
* multi-label: the two label sets share at least one label (two rows with no label are
  also similar). Overlap rather than identical sets, because with k labels identical sets
  are rare and the body would see almost no positive pairs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("cosine", "supcon", "triplet")


def similarity_targets(y: torch.Tensor) -> torch.Tensor:
    """Boolean (B, B): True where two examples count as similar (see module docstring)."""
    if y.ndim == 1:
        return y[:, None] == y[None, :]
    y = y.float()
    shared = (y @ y.T) > 0
    empty = y.sum(dim=1) == 0
    return shared | (empty[:, None] & empty[None, :])


def _cosine_matrix(emb: torch.Tensor) -> torch.Tensor:
    emb = F.normalize(emb.float(), dim=-1)
    return emb @ emb.T


def cosine_pair_loss(emb: torch.Tensor, similar: torch.Tensor) -> torch.Tensor:
    """SetFit's objective on every in-batch pair: (cos − target)², target 1 or 0.

    A P×K batch has far more dissimilar than similar pairs (K−1 vs B−K per example);
    averaging each kind separately and weighting them equally keeps the reference's
    50/50 balance of positive and negative pairs.
    """
    cos = _cosine_matrix(emb)
    off_diagonal = ~torch.eye(len(cos), dtype=torch.bool, device=cos.device)
    positive = similar & off_diagonal
    negative = ~similar & off_diagonal
    terms = []
    if positive.any():
        terms.append(((cos[positive] - 1.0) ** 2).mean())
    if negative.any():
        terms.append((cos[negative] ** 2).mean())
    return torch.stack(terms).mean()


def supervised_contrastive_loss(emb: torch.Tensor, similar: torch.Tensor,
                                temperature: float = 0.05) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020) over the batch.

    For each anchor with at least one similar example: the mean, over its similar
    examples, of −log softmax(cos / temperature) among all other examples of the batch.
    """
    logits = _cosine_matrix(emb) / temperature
    eye = torch.eye(len(logits), dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = similar & ~eye
    has_positive = positive.any(dim=1)
    if not has_positive.any():
        return logits.new_zeros(()).requires_grad_()
    pos_log_prob = log_prob.masked_fill(~positive, 0.0).sum(dim=1)
    per_anchor = -pos_log_prob[has_positive] / positive[has_positive].sum(dim=1)
    return per_anchor.mean()


def batch_hard_triplet_loss(emb: torch.Tensor, similar: torch.Tensor,
                            margin: float = 0.25) -> torch.Tensor:
    """Batch-hard triplet loss on cosine distance (1 − cos).

    For each anchor with a similar and a dissimilar example: relu(hardest positive
    distance − hardest negative distance + margin).
    """
    dist = 1.0 - _cosine_matrix(emb)
    eye = torch.eye(len(dist), dtype=torch.bool, device=dist.device)
    positive = similar & ~eye
    negative = ~similar & ~eye
    valid = positive.any(dim=1) & negative.any(dim=1)
    if not valid.any():
        return dist.new_zeros(()).requires_grad_()
    hardest_pos = dist.masked_fill(~positive, float("-inf")).max(dim=1).values
    hardest_neg = dist.masked_fill(~negative, float("inf")).min(dim=1).values
    return F.relu(hardest_pos - hardest_neg + margin)[valid].mean()


def contrastive_loss(name: str, emb: torch.Tensor, similar: torch.Tensor, *,
                     temperature: float = 0.05) -> torch.Tensor:
    """Dispatch on the loss name ("cosine", "supcon" or "triplet"); `temperature` is
    supcon's (the others have none)."""
    if name == "cosine":
        return cosine_pair_loss(emb, similar)
    if name == "supcon":
        return supervised_contrastive_loss(emb, similar, temperature)
    if name == "triplet":
        return batch_hard_triplet_loss(emb, similar)
    raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
