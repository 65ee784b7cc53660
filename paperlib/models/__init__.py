"""paperlib.models: one AnyNet (ResNet / ResNeXt / RegNet) plus per-paper models (ViT, MAE, Faster / Mask
R-CNN detectors), behind a registry.

Every module below registers its builders on import; modules of papers that are not there yet are
skipped (only a missing module is tolerated -- any other import error is raised).
"""
import importlib as _importlib

from .registry import create_model, get_model_meta, is_model, list_models, register_model
from .anynet import AnyNet, AnyNetConfig
from . import resnext  # noqa: F401  (registers resnet*/resnext*)

for _name in ("regnet", "vit", "mae", "detection_zoo"):
    try:
        _importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:  # the module itself is absent -> skip; a broken import inside it is not
        if _e.name != f"{__name__}.{_name}":
            raise
del _name

__all__ = ["create_model", "list_models", "get_model_meta", "register_model", "is_model",
           "AnyNet", "AnyNetConfig"]
