"""Classifier families. Each module is one family; `base` holds the shared protocol."""
