"""Data: generated datasets in real formats, and loaders for the real datasets."""
from .common import data_home, generated_dataset, manifest_hash, read_manifest
from .classification import classification_datasets, synthetic_classification
from .scenes import STUFF_CLASSES, THING_CLASSES, generate_scenes, scenes_stats, synthetic_scenes
from .coco import CocoDetection, coco_detection_dataset, detection_collate, load_coco

__all__ = ["data_home", "generated_dataset", "manifest_hash", "read_manifest",
           "classification_datasets", "synthetic_classification",
           "synthetic_scenes", "generate_scenes", "scenes_stats", "THING_CLASSES", "STUFF_CLASSES",
           "CocoDetection", "coco_detection_dataset", "detection_collate", "load_coco"]
