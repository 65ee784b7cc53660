"""paperlib.motion: unsupervised motion segmentation (uNLC-lite) and simple motion baselines."""
from .unlc import (BG_THRESH, DESC_DIM, FG_THRESH, consensus, dominance, segment_video, transition, trimap,
                   weights_from_knn)

__all__ = ["segment_video", "consensus", "dominance", "transition", "trimap", "weights_from_knn", "DESC_DIM",
           "FG_THRESH", "BG_THRESH"]
