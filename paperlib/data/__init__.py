"""Data: generated datasets in real formats, and loaders for the real datasets."""
from .common import data_home, generated_dataset, manifest_hash, read_manifest
from .classification import classification_datasets, synthetic_classification

__all__ = ["data_home", "generated_dataset", "manifest_hash", "read_manifest",
           "classification_datasets", "synthetic_classification"]
