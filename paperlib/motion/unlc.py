"""uNLC-lite: unsupervised motion segmentation by non-local consensus voting (spec: docs/papers/03_watching_objects_move.md).

A re-implementation, in NumPy / SciPy / scikit-image / OpenCV, of the steps of the authors' ``videoseg``
(``nlc.py``, ``run_full.py``) that the paper's uNLC uses. No maintained package provides NLC, so the
descriptor, graph, dominance rules and voting are written here; the building blocks come from libraries:
SLIC superpixels and HOG (scikit-image), optical flow (OpenCV Farnebaeck with the parameters the original
code keeps as its alternative to Ce Liu's flow -- ``pyflow`` on PyPI is an unrelated package), KD-tree
(replaced by an exact brute-force k-NN: same neighbours), sparse matrices (SciPy).

Steps (numbers from the spec):
1. SLIC superpixels (0-indexed labels).
2. Descriptor per region, d = 176: HOG of a 15x15 grey patch centred on the region's bounding box
   (6 orientations, 5x5 cells, one 3x3-cell block: 54) + 20-bin histograms of R, G, B, L, a, b (120) +
   the patch's top-left position (y/h, x/w) (2).
3. Graph: for frame i a KD-tree over the regions of frames [i-F, i+F] (F = 15), M = L(2F+1) nearest
   neighbours (L = 2); w = exp(-d^2 / 0.1) for non-zero distances (a duplicate at distance 0 gets no
   weight -- the original's sparse-matrix quirk, kept), diagonal 1, row-normalised T = D^-1 W.
4. Motion saliency: flow i -> i+j, j in {-3..3}\\{0}, on 100x100 frames; a pair is static-dominant
   (median magnitude < 1: deviation = magnitude^2) or translate-dominant (magnitude-weighted 20-bin
   orientation histogram peak > 0.75: deviation = squared angular distance to the peak bin's centre),
   else unused. Deviation box-filtered 5x5, averaged over the frame's dominant pairs, up-sampled, a border
   of 12.5 % of min(h, w) zeroed, divided by the maximum over the whole video.
   Fallback when < 50 % of frames have a dominant pair: appearance saliency. The original uses MR saliency
   (not packaged); ours is a documented substitute: colour distance to the mean border colour in Lab.
5. Votes: mean saliency per region; v <- T v, then per-frame max normalisation; 50 iterations in 5 chunks,
   between chunks weak blobs (vote >= 0.7 whose energy < 0.6 x pixel count) are reset to 0.7/4 and the votes
   re-pooled per region.
6. Mask: votes projected to pixels; blobs smaller than 0.6 x the largest dropped; foreground = vote >= 0.7.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, sparse

__all__ = ["DESC_DIM", "NN_FRAMES", "NN_L", "n_neighbours", "superpixels", "descriptors", "weights_from_knn",
           "transition", "knn_graph", "consensus", "dominance", "motion_saliency", "appearance_saliency",
           "finish_saliency", "border_width", "initial_votes", "project", "final_mask", "segment_video",
           "trimap", "FG_THRESH", "BG_THRESH", "flow_farneback"]

HOG_ORIENT, HOG_CELL, HOG_BLOCK, PATCH = 6, 5, 3, 15
N_BINS = 20
DESC_DIM = 6 * N_BINS + HOG_BLOCK * HOG_BLOCK * HOG_ORIENT + 2      # 176
NN_FRAMES, NN_L, SIGMA2 = 15, 2, 0.1
FG_THRESH, BG_THRESH = 0.7, 0.4
FLOW_SIZE = 100


def n_neighbours(F: int = NN_FRAMES, L: int = NN_L) -> int:
    return L * (2 * F + 1)


# ----------------------------------------------------------------------------- regions and descriptors
def superpixels(frame: np.ndarray, n_segments: int = 400, sigma: float = 5.0) -> np.ndarray:
    """SLIC labels (0-indexed, consecutive) of an RGB uint8 frame."""
    from skimage.segmentation import slic

    lab = slic(frame.astype(np.float64) / 255.0, n_segments=n_segments, sigma=sigma, start_label=0,
               channel_axis=-1)
    _, inv = np.unique(lab, return_inverse=True)
    return inv.reshape(lab.shape).astype(np.int32)


def _bin_index(x, lo, hi):
    """np.histogram's bin of every value (20 bins over [lo, hi], last bin closed); N_BINS = out of range."""
    idx = np.floor((x - lo) / (hi - lo) * N_BINS).astype(np.int64)
    idx[x == hi] = N_BINS - 1
    idx[(x < lo) | (x > hi)] = N_BINS
    return idx


def _hist(idx):
    h = np.bincount(idx, minlength=N_BINS + 1)[:N_BINS].astype(np.float64)
    s = h.sum()
    return h / s if s else h


def descriptors(frame: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n_regions, 176) descriptors of the regions of one frame (order: R, G, B, L, a, b hists, HOG, y, x)."""
    from skimage.color import rgb2gray, rgb2lab
    from skimage.feature import hog

    h, w = labels.shape
    n = int(labels.max()) + 1
    grey = rgb2gray(frame)
    lab = rgb2lab(frame)
    # per-pixel histogram bins of R, G, B over [0, 255], L over [0, 100], a and b over [-128, 127]
    ranges = [(0, 255)] * 3 + [(0, 100), (-128, 127), (-128, 127)]
    chans = np.concatenate([frame.astype(np.float64), lab], axis=-1)
    bins = np.stack([_bin_index(chans[..., c], *ranges[c]) for c in range(6)], axis=-1)
    objs = ndimage.find_objects(labels + 1, max_label=n)
    out = np.zeros((n, DESC_DIM), np.float64)
    half = PATCH // 2
    for r, sl in enumerate(objs):
        if sl is None:
            continue
        cy = (sl[0].start + sl[0].stop - 1) // 2
        cx = (sl[1].start + sl[1].stop - 1) // 2
        y0 = int(min(max(cy - half, 0), max(h - PATCH, 0)))
        x0 = int(min(max(cx - half, 0), max(w - PATCH, 0)))
        ps = (slice(y0, y0 + PATCH), slice(x0, x0 + PATCH))
        pb = bins[ps].reshape(-1, 6)
        hists = [_hist(pb[:, c]) for c in range(6)]
        g = hog(grey[ps], orientations=HOG_ORIENT, pixels_per_cell=(HOG_CELL, HOG_CELL),
                cells_per_block=(HOG_BLOCK, HOG_BLOCK), feature_vector=True)
        out[r] = np.concatenate(hists + [g, [y0 / h, x0 / w]])
    return out


# ----------------------------------------------------------------------------- graph and voting
def weights_from_knn(rows, cols, dists, n: int) -> sparse.csr_matrix:
    """W from k-NN results: exp(-d^2 / sigma^2) on non-zero distances (zeros vanish, as in the original's
    sparse matrix), then the diagonal set to 1. Duplicate (row, col) pairs keep one entry."""
    rows, cols, d = np.asarray(rows), np.asarray(cols), np.asarray(dists, float)
    keep = d > 0
    W = sparse.coo_matrix((np.exp(-d[keep] ** 2 / SIGMA2), (rows[keep], cols[keep])), shape=(n, n)).tocsr()
    W.sum_duplicates()
    W = W.tolil()
    W.setdiag(1.0)
    return W.tocsr()


def transition(W) -> sparse.csr_matrix:
    """T = D^-1 W (row-normalised)."""
    s = np.asarray(W.sum(axis=1)).ravel()
    s[s == 0] = 1.0
    return sparse.diags(1.0 / s) @ W


def knn_graph(descs: list, F: int = NN_FRAMES, L: int = NN_L) -> tuple:
    """Transition matrix over all regions of a video. descs: list of (n_t, d) arrays per frame.
    Returns (T, frame_of_region)."""
    sizes = [len(d) for d in descs]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    allD = np.concatenate(descs)
    n = len(allD)
    M = n_neighbours(F, L)
    rows, cols, dists = [], [], []
    for i in range(len(descs)):
        a, b = max(0, i - F), min(len(descs), i + F + 1)
        lo, hi = offs[a], offs[b]
        # exact k-NN by brute force (the original uses a KD-tree; same neighbours, but in 176-d a
        # KD-tree degenerates to a slower brute force)
        ref, q = allD[lo:hi], descs[i]
        d2 = (q * q).sum(1)[:, None] + (ref * ref).sum(1)[None] - 2 * q @ ref.T
        d2[d2 < 1e-12] = 0.0
        k = min(M, hi - lo)
        j = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < hi - lo else np.tile(np.arange(k), (len(q), 1))
        d = np.sqrt(np.take_along_axis(d2, j, axis=1))
        rows.append(np.repeat(np.arange(offs[i], offs[i + 1]), k))
        cols.append(j.ravel() + lo)
        dists.append(d.ravel())
    W = weights_from_knn(np.concatenate(rows), np.concatenate(cols), np.concatenate(dists), n)
    return transition(W), np.repeat(np.arange(len(descs)), sizes)


def _frame_max_normalise(v, frame_of):
    mx = np.zeros(frame_of.max() + 1)
    np.maximum.at(mx, frame_of, v)
    den = mx[frame_of]
    return np.where(den > 0, v / np.where(den > 0, den, 1), v)


def consensus(T, v0, frame_of, iters: int) -> np.ndarray:
    """iters x (v <- T v; then each frame's votes divided by that frame's maximum when > 0)."""
    v = np.asarray(v0, float)
    frame_of = np.asarray(frame_of)
    for _ in range(iters):
        v = _frame_max_normalise(T @ v, frame_of)
    return v


# ----------------------------------------------------------------------------- motion saliency
def flow_farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W, 2) flow (dx, dy; y down) from grey uint8 a to b: OpenCV Farnebaeck with the parameters
    the original code keeps as its alternative (pyr 0.5, 4 levels, window 10, 10 iterations, poly 5, 1.1)."""
    import cv2

    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 10, 10, 5, 1.1, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)


def dominance(flow: np.ndarray, static_thresh: float = 1.0, peak_thresh: float = 0.75):
    """Classify a flow field: ("static", deviation), ("translate", deviation) or ("none", None).
    Returns (kind, deviation map or None, info dict with median, peak, target)."""
    dx, dy = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    mag = np.hypot(dx, dy)
    med = float(np.median(mag))
    info = dict(median=med, peak=None, target=0.0)
    if med < static_thresh:
        return "static", mag ** 2, info
    theta = np.arctan2(dy, dx)
    hist, edges = np.histogram(theta, bins=N_BINS, range=(-math.pi, math.pi), weights=mag)
    tot = hist.sum()
    hist = hist / tot if tot > 0 else hist
    k = int(np.argmax(hist))
    info["peak"] = float(hist[k])
    if hist[k] > peak_thresh:
        target = 0.5 * (edges[k] + edges[k + 1])
        info["target"] = float(target)
        dev = np.minimum.reduce([(theta - target) ** 2, (theta - target - 2 * math.pi) ** 2,
                                 (theta - target + 2 * math.pi) ** 2])
        return "translate", dev, info
    return "none", None, info


def border_width(h: int, w: int, frac: float = 0.125) -> int:
    return int(math.floor(min(h, w) * frac))


def motion_saliency(frames: np.ndarray, max_gap: int = 3):
    """Per-frame motion saliency at FLOW_SIZE x FLOW_SIZE (un-normalised) and the pair statistics.
    Returns (sal (T, 100, 100), has_dominant (T,) bool, kinds: list of (i, j, kind))."""
    import cv2

    T = len(frames)
    grey = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (FLOW_SIZE, FLOW_SIZE), interpolation=cv2.INTER_AREA)
            for f in frames]
    sal = np.zeros((T, FLOW_SIZE, FLOW_SIZE))
    has = np.zeros(T, bool)
    kinds = []
    for i in range(T):
        acc, n = np.zeros((FLOW_SIZE, FLOW_SIZE)), 0
        for j in range(-max_gap, max_gap + 1):
            if j == 0 or not 0 <= i + j < T:
                continue
            kind, dev, _ = dominance(flow_farneback(grey[i], grey[i + j]))
            kinds.append((i, j, kind))
            if dev is not None:
                acc += ndimage.uniform_filter(dev, size=5, mode="reflect")
                n += 1
        if n:
            sal[i], has[i] = acc / n, True
    return sal, has, kinds


def appearance_saliency(frames: np.ndarray) -> np.ndarray:
    """Substitute for MR saliency (not packaged): per frame, Lab distance of each pixel to the mean colour
    of the frame's border, smoothed. Documented as a deviation; used only in the < 50 % fallback."""
    from skimage.color import rgb2lab

    out = []
    for f in frames:
        lab = rgb2lab(f)
        b = border_width(*f.shape[:2]) or 1
        ring = np.concatenate([lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3), lab[:, :b].reshape(-1, 3),
                               lab[:, -b:].reshape(-1, 3)])
        out.append(ndimage.uniform_filter(np.linalg.norm(lab - ring.mean(0), axis=-1), size=5))
    return np.stack(out)


def finish_saliency(sal: np.ndarray, h: int, w: int) -> np.ndarray:
    """Up-sample (bilinear) to h x w, zero a border of 12.5 % of min(h, w), divide by the video maximum."""
    import cv2

    up = np.stack([cv2.resize(s.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) for s in sal])
    b = border_width(h, w)
    if b:
        up[:, :b], up[:, -b:], up[:, :, :b], up[:, :, -b:] = 0, 0, 0, 0
    mx = up.max()
    return up / mx if mx > 0 else up


def initial_votes(sal: np.ndarray, labels: list) -> np.ndarray:
    """Mean saliency over each region's pixels, regions of all frames concatenated."""
    return np.concatenate([ndimage.mean(s, labels=l, index=np.arange(l.max() + 1)) for s, l in zip(sal, labels)])


def project(v: np.ndarray, labels: list) -> np.ndarray:
    """Region votes -> per-pixel vote maps (T, H, W)."""
    out, o = [], 0
    for l in labels:
        n = l.max() + 1
        out.append(v[o:o + n][l])
        o += n
    return np.stack(out)


def _reset_weak_blobs(v, labels, thresh=FG_THRESH, energy=0.6):
    maps = project(v, labels)
    for t in range(len(maps)):
        blobs, nb = ndimage.label(maps[t] >= thresh)
        for b in range(1, nb + 1):
            m = blobs == b
            if maps[t][m].sum() < energy * m.sum():
                maps[t][m] = thresh / 4
    return initial_votes(maps, labels)


def final_mask(vote_map: np.ndarray, thresh: float = FG_THRESH, keep_frac: float = 0.6) -> np.ndarray:
    """Foreground = vote >= thresh, blobs smaller than keep_frac x the largest removed."""
    fg = vote_map >= thresh
    blobs, nb = ndimage.label(fg)
    if nb > 1:
        sizes = ndimage.sum(fg, blobs, index=np.arange(1, nb + 1))
        keep = np.flatnonzero(sizes >= keep_frac * sizes.max()) + 1
        fg = np.isin(blobs, keep)
    return fg


def trimap(soft, fg: float = FG_THRESH, bg: float = BG_THRESH):
    """Trimap of soft votes: 1 = foreground (>= fg), 0 = background (<= bg), -1 = ignored in between."""
    soft = np.asarray(soft, float)
    return np.where(soft >= fg, 1, np.where(soft <= bg, 0, -1)).astype(np.int8)


def segment_video(frames: np.ndarray, *, n_segments: int = 400, sigma: float = 5.0, F: int = NN_FRAMES,
                  L: int = NN_L, iters: int = 50, chunks: int = 5, max_gap: int = 3, fallback_frac: float = 0.5):
    """uNLC-lite on one clip (T, H, W, 3) uint8. Returns dict: soft (T,H,W) votes in [0,1], mask (T,H,W) bool,
    saliency (T,H,W), fallback (bool), dominant_frac (fraction of frames with a dominant pair),
    pair_kinds (counts of static / translate / none pairs)."""
    T, h, w = frames.shape[:3]
    labels = [superpixels(f, n_segments, sigma) for f in frames]
    descs = [descriptors(f, l) for f, l in zip(frames, labels)]
    Tm, frame_of = knn_graph(descs, F, L)
    sal_small, has, kinds = motion_saliency(frames, max_gap)
    fallback = bool(has.mean() < fallback_frac)
    sal = finish_saliency(appearance_saliency(frames) if fallback else sal_small, h, w)
    v = initial_votes(sal, labels)
    per = max(1, iters // max(1, chunks))
    done = 0
    while done < iters:
        k = min(per, iters - done)
        v = consensus(Tm, v, frame_of, k)
        done += k
        if done < iters:
            v = _reset_weak_blobs(v, labels)
    soft = np.clip(project(v, labels), 0, 1)
    mask = np.stack([final_mask(s) for s in soft])
    counts = {k: sum(1 for *_, kk in kinds if kk == k) for k in ("static", "translate", "none")}
    return dict(soft=soft.astype(np.float32), mask=mask, saliency=sal.astype(np.float32), fallback=fallback,
                dominant_frac=float(has.mean()), pair_kinds=counts)
