"""SetFit: a sentence-transformer body tuned contrastively, then a head (`.model`).

Its parts: label-balanced batches drawn on the fly (`.pair_sampler`), losses over every
in-batch pair (`.contrastive_losses`), a torch head trained on cached embeddings
(`.heads`); the shared training loop is `whichmodel.models.training`, the body's chunked
encoding `whichmodel.models.sentence_body`.
"""

from whichmodel.models.setfit.model import BODY_DIR, HEADS, LOG_FILE, SetFitClassifier

__all__ = ["BODY_DIR", "HEADS", "LOG_FILE", "SetFitClassifier"]
