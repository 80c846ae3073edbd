"""Classifier families and what they share.

`registry` names the families (imported lazily), `base` is the `Classifier` template,
`inputs` what `fit` and `predict` accept, `layout` the saved folder, `training` the torch
loop fine-tuning families share, `setting_checks` the checks of settings. Each family is
one module (`tfidf`, `embedding`) or, when it has several parts, a package (`setfit`).
"""
