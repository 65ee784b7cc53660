"""COCO panoptic format tools and the paper's merge heuristic."""
import json

import numpy as np
import pytest
from PIL import Image

from paperlib.data.panoptic import (
    combine_semantic_instances, id2rgb, load_panoptic_annotations, read_panoptic_png, rgb2id,
    segments_info_from_ids, semantic_from_panoptic, write_panoptic_dataset, write_panoptic_png,
)


# ----------------------------------------------------------------------------- encoding (A2)
@pytest.mark.parametrize("i,rgb", [(0, (0, 0, 0)), (40, (40, 0, 0)), (300, (44, 1, 0)),
                                   (70000, (112, 17, 1)), (16777215, (255, 255, 255))])
def test_a2_scalar_encoding(i, rgb):
    assert id2rgb(i) == rgb
    assert rgb2id(rgb) == i


def test_array_encoding_and_png_roundtrip_lossless(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 2 ** 24, size=(17, 23))
    ids[0, :4] = [40, 300, 70000, 16777215]
    rgb = id2rgb(ids)
    assert rgb.dtype == np.uint8 and rgb.shape == (17, 23, 3)
    assert tuple(rgb[0, 2]) == (112, 17, 1)
    assert np.array_equal(rgb2id(rgb), ids)
    write_panoptic_png(tmp_path / "x.png", ids)
    with Image.open(tmp_path / "x.png") as im:
        assert im.mode == "RGB"
    assert np.array_equal(read_panoptic_png(tmp_path / "x.png"), ids)


def test_encoding_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError):
        id2rgb(np.array([[2 ** 24]]))
    with pytest.raises(ValueError):
        id2rgb(-1)
    with pytest.raises(ValueError, match="JPEG"):
        write_panoptic_png(tmp_path / "x.jpg", np.zeros((2, 2), int))
    Image.fromarray(np.zeros((3, 3), np.uint8), mode="L").save(tmp_path / "g.png")
    with pytest.raises(ValueError, match="mode 'L'"):
        read_panoptic_png(tmp_path / "g.png")


# ----------------------------------------------------------------------------- segments_info / files
def test_segments_info_exact_area_bbox():
    ids = np.zeros((5, 6), np.int64)
    ids[1:3, 2:5] = 7
    ids[4, 0] = 9
    info = segments_info_from_ids(ids, {7: 1, 9: 2, 11: 3}, {9: 1})
    assert info == [{"id": 7, "category_id": 1, "area": 6, "bbox": [2, 1, 3, 2], "iscrowd": 0},
                    {"id": 9, "category_id": 2, "area": 1, "bbox": [0, 4, 1, 1], "iscrowd": 1}]
    with pytest.raises(KeyError):
        segments_info_from_ids(ids, {7: 1})


def test_write_dataset_recomputes_areas_and_drops_empty(tmp_path):
    ids = np.zeros((4, 4), np.int64)
    ids[:2] = np.int64(5)
    segs = [{"id": np.int64(5), "category_id": np.int64(1), "area": 999},
            {"id": 6, "category_id": 1}]                      # empty: must not be written
    cats = [{"id": 1, "name": "a", "isthing": 1}]
    write_panoptic_dataset(tmp_path / "gt.json", [{"id": 3, "file_name": "a.jpg", "height": 4, "width": 4}],
                           [ids], [segs], cats)
    d = json.load(open(tmp_path / "gt.json"))
    ann = d["annotations"][0]
    assert ann["file_name"] == "a.png"
    assert ann["segments_info"] == [{"id": 5, "category_id": 1, "area": 8, "bbox": [0, 0, 4, 2], "iscrowd": 0}]
    (a, m), = list(load_panoptic_annotations(tmp_path / "gt.json"))
    assert np.array_equal(m, ids) and a["image_id"] == 3
    with pytest.raises(ValueError, match="shape"):
        write_panoptic_dataset(tmp_path / "bad.json", [{"id": 3, "file_name": "a.png", "height": 5, "width": 4}],
                               [ids], [segs], cats)


def test_semantic_from_panoptic():
    ids = np.array([[0, 5, 5], [7, 7, 99]])
    sem = semantic_from_panoptic(ids, [{"id": 5, "category_id": 3}, {"id": 7, "category_id": 8}])
    assert sem.tolist() == [[0, 3, 3], [8, 8, 0]]


# ----------------------------------------------------------------------------- heuristic
STUFF = [10, 11]


def _combine(sem, masks, scores, labels, **kw):
    kw.setdefault("stuff_area_limit", 0)
    return combine_semantic_instances(sem, np.array(masks, bool), scores, labels, stuff_category_ids=STUFF, **kw)


def test_heuristic_confidence_order_overlap_and_stuff():
    h, w = 6, 8
    sem = np.full((h, w), 10)
    sem[4:] = 11
    sem[0, 0] = 1                                      # thing label in semantic: ignored
    m_hi = np.zeros((h, w), bool)
    m_hi[0:3, 0:4] = True                              # 12 px, score .9
    m_mid = np.zeros((h, w), bool)
    m_mid[1:3, 2:6] = True                             # 8 px, 4 overlap (50%: kept, not > .5)
    m_low = np.zeros((h, w), bool)
    m_low[0:3, 1:4] = True                             # 9 px, fully covered -> dropped
    m_weak = np.zeros((h, w), bool)
    m_weak[5, :] = True                                # score .4 < .5 -> dropped
    empty = np.zeros((h, w), bool)
    ids, segs = _combine(sem, [m_mid, m_low, m_weak, m_hi, empty], [0.7, 0.6, 0.4, 0.9, 0.95],
                         [2, 3, 4, 1, 5])
    cats = [s["category_id"] for s in segs]
    assert cats == [1, 2, 10, 11]                      # score order, then stuff
    by_cat = {s["category_id"]: s for s in segs}
    assert by_cat[1]["area"] == 12
    assert by_cat[2]["area"] == 4                      # only its unassigned pixels
    assert (ids[1:3, 4:6] == by_cat[2]["id"]).all() and (ids[0:3, 0:4] == by_cat[1]["id"]).all()
    assert by_cat[11]["area"] == 16                    # rows 4-5; the weak instance did not take row 5
    assert by_cat[10]["area"] == 4 * 8 - 12 - 4        # stuff fills what things left
    assert (ids > 0).all()
    for s in segs:
        assert (ids == s["id"]).sum() == s["area"]


def test_heuristic_overlap_threshold_is_strict_and_stuff_limit():
    sem = np.full((4, 4), 10)
    a = np.zeros((4, 4), bool)
    a[:, :2] = True
    b = np.zeros((4, 4), bool)
    b[:, 1:3] = True                                   # exactly half covered -> kept
    ids, segs = _combine(sem, [a, b], [0.9, 0.8], [1, 1])
    assert [s["area"] for s in segs] == [8, 4, 4]
    ids, segs = _combine(sem, [a, b], [0.9, 0.8], [1, 1], overlap_thr=0.49)
    assert [s["area"] for s in segs] == [8, 8]
    # stuff below the limit becomes VOID
    ids, segs = _combine(sem, [a], [0.9], [1], stuff_area_limit=9)
    assert [s["category_id"] for s in segs] == [1] and (ids[:, 2:] == 0).all()
    ids, segs = _combine(sem, [a], [0.9], [1], stuff_area_limit=8)
    assert [s["category_id"] for s in segs] == [1, 10]


def _panopticapi_transcription(sem, masks, scores, labels, conf_thr, overlap_thr, limit):
    """panopticapi's combine loop with numpy masks in place of COCO RLEs."""
    order = sorted([i for i in range(len(scores)) if scores[i] >= conf_thr], key=lambda i: -scores[i])
    pan = np.zeros(sem.shape, np.uint32)
    used = None
    segs, nid = [], 1
    for i in order:
        m = masks[i]
        area = m.sum()
        if area == 0:
            continue
        if used is None:
            inter = 0
            used = m.copy()
        else:
            inter = (used & m).sum()
        if inter / area > overlap_thr:
            continue
        used = used | m
        mm = m if inter == 0 else (m & (pan == 0))
        pan[mm] = nid
        segs.append((nid, int(labels[i])))
        nid += 1
    for c in STUFF:
        left = (sem == c) & (pan == 0)
        if left.sum() < limit:
            continue
        pan[left] = nid
        segs.append((nid, c))
        nid += 1
    return pan, segs


def test_heuristic_matches_panopticapi_loop_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(25):
        h, w = rng.integers(5, 20, size=2)
        sem = rng.choice([10, 11, 1], size=(h, w))
        n = int(rng.integers(0, 8))
        masks = np.zeros((n, h, w), bool)
        for k in range(n):
            y, x = rng.integers(0, h), rng.integers(0, w)
            masks[k, y:y + rng.integers(1, 8), x:x + rng.integers(1, 8)] = True
        scores = rng.random(n)
        labels = rng.integers(1, 4, n)
        limit = float(rng.integers(0, 30))
        thr = float(rng.choice([0.3, 0.5, 0.8]))
        ids, segs = combine_semantic_instances(sem, masks, scores, labels, stuff_category_ids=STUFF,
                                               overlap_thr=thr, stuff_area_limit=limit)
        ref, rsegs = _panopticapi_transcription(sem, masks, scores, labels, 0.5, thr, limit)
        # panopticapi would also list an empty stuff segment when limit == 0; we never write empty ones
        rsegs = [s for s in rsegs if (ref == s[0]).any()]
        assert np.array_equal(ids, ref)
        assert [(s["id"], s["category_id"]) for s in segs] == rsegs


# ----------------------------------------------------------------------------- merge inputs (user results)
def test_decode_segmentation_formats_and_size_check():
    from pycocotools import mask as mask_utils

    from paperlib.data.panoptic import decode_segmentation

    m = np.zeros((6, 8), bool)
    m[1:4, 2:7] = True
    r = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    comp = {"size": [6, 8], "counts": r["counts"].decode("ascii")}
    assert np.array_equal(decode_segmentation(comp, 6, 8), m)
    flat = m.T.reshape(-1).astype(int)                   # uncompressed RLE: column-major run lengths
    runs, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    assert np.array_equal(decode_segmentation({"size": [6, 8], "counts": runs}, 6, 8), m)
    poly = decode_segmentation([[2, 1, 7, 1, 7, 4, 2, 4]], 6, 8)
    assert poly.dtype == bool and poly[2, 4] and not poly[5, 0]
    with pytest.raises(ValueError, match="size"):
        decode_segmentation(comp, 8, 6)


def test_semantic_results_first_wins_png_maps_and_instances(tmp_path):
    from pycocotools import mask as mask_utils

    from paperlib.data.panoptic import (instances_from_results, load_results_json, read_semantic_png,
                                        results_by_image, semantic_map_from_results)

    def rle(mm):
        r = mask_utils.encode(np.asfortranarray(mm.astype(np.uint8)))
        return {"size": list(r["size"]), "counts": r["counts"].decode("ascii")}

    a = np.zeros((4, 4), bool)
    a[:, :3] = True
    b = np.zeros((4, 4), bool)
    b[:, 2:] = True
    res = [{"image_id": 7, "category_id": 3, "segmentation": rle(a)},
           {"image_id": 7, "category_id": 4, "segmentation": rle(b)}]
    (tmp_path / "s.json").write_text(json.dumps(res))
    by = results_by_image(load_results_json(tmp_path / "s.json"))
    sem = semantic_map_from_results(by[7], 4, 4)
    assert (sem[:, :3] == 3).all() and (sem[:, 3] == 4).all()       # overlap: first entry wins
    Image.fromarray(sem.astype(np.uint8), mode="L").save(tmp_path / "x.png")
    assert np.array_equal(read_semantic_png(tmp_path / "x.png", 4, 4), sem)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8), mode="RGB").save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="single-channel"):
        read_semantic_png(tmp_path / "rgb.png")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_semantic_png(tmp_path / "nope.png")
    inst = [dict(r, score=s) for r, s in zip(res, (0.9, 0.2))]
    masks, scores, labels = instances_from_results(inst, 4, 4, min_score=0.5)
    assert masks.shape == (1, 4, 4) and np.array_equal(masks[0], a) and labels.tolist() == [3]
    (tmp_path / "bad.json").write_text(json.dumps([{"image_id": 1}]))
    with pytest.raises(ValueError, match="COCO results"):
        load_results_json(tmp_path / "bad.json")
