#!/usr/bin/env python3
"""Reference cases for the segmentation metrics (issue 23): MONAI 1.6.1 `DiceMetric`, `MeanIoU`
and `ConfusionMatrixMetric` (every metric name, `compute_sample` on and off) on predictions
binarised by argmax (softmax) or a sigmoid threshold, with `include_background`, every
`reduction`, `ignore_empty` and `ignore_index` (an out-of-range ignore label, and MeanIoU's and
ConfusionMatrixMetric's in-range class), classes missing from some samples. Each case stores
the raw logits, the labels (or dense 0/1 targets), how they were binarised, the metric's
arguments and MONAI's `aggregate()` values with `get_not_nans=True`. Run by hand:

    python3 -m venv venv && venv/bin/pip install torch monai==1.6.1
    venv/bin/python tools/gen_metric_fixtures.py --out tests/fixtures/metric_cases.json
"""
import argparse
import json

import torch
from monai.metrics import ConfusionMatrixMetric, DiceMetric, MeanIoU

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--seed", type=int, default=2312)
args = ap.parse_args()
g = torch.Generator().manual_seed(args.seed)
IGNORE = 255
REDUCTIONS = ["mean", "sum", "mean_batch", "sum_batch", "mean_channel", "sum_channel", "none"]
CM_NAMES = ["sensitivity", "specificity", "precision", "negative predictive value", "miss rate",
            "fall out", "false discovery rate", "false omission rate", "prevalence threshold",
            "threat score", "accuracy", "balanced accuracy", "f1 score",
            "matthews correlation coefficient", "fowlkes mallows index", "informedness",
            "markedness"]


def inputs(shape, decision, ignore, missing, dense=False, void=False):
    """Logits, targets (labels [B, spatial] or dense [B, C, spatial]) and MONAI's binarised
    y_pred and one-hot y (all-zero at ignored pixels)."""
    b, c = shape[:2]
    logits = torch.randn(shape, generator=g) * 1.5
    spatial = shape[2:]
    if dense:
        y = (torch.rand(shape, generator=g) < 0.4).float()
        if missing:
            y[0, c - 1] = 0.0
        labels = None
    else:
        # Samples draw from a subset of the classes where `missing` (empty ground truth).
        labels = torch.randint(0, c, (b, *spatial), generator=g)
        if missing:
            labels[0][labels[0] == c - 1] = 0
            if b > 1:
                labels[1][labels[1] == 1] = 0
        y = torch.nn.functional.one_hot(labels, c).movedim(-1, 1).float()
        if ignore:
            drop = torch.rand((b, *spatial), generator=g) < 0.2
            if void:
                # A sample with every pixel ignored: no kept cell, left out of the batch mean.
                drop[0] = True
            labels = labels.masked_fill(drop, IGNORE)
            y = y * (~drop)[:, None].float()
    if decision == "argmax":
        y_pred = torch.nn.functional.one_hot(logits.argmax(1), c).movedim(-1, 1).float()
    else:
        y_pred = (torch.sigmoid(logits) > 0.5).float()
    return logits, labels, y, y_pred


def tolist(t):
    return t.detach().double().flatten().tolist(), list(t.shape)


cases = []


def add(name, shape, decision, metric_class, kwargs, ignore=False, missing=False, dense=False,
        names=None, void=False):
    logits, labels, y, y_pred = inputs(shape, decision, ignore, missing, dense, void)
    kw = dict(kwargs)
    if ignore:
        kw.setdefault("ignore_index", IGNORE)
    if metric_class == "ConfusionMatrixMetric":
        m = ConfusionMatrixMetric(metric_name=names, get_not_nans=True, **kw)
        m(y_pred, y)
        results = m.aggregate()
    else:
        m = {"DiceMetric": DiceMetric, "MeanIoU": MeanIoU}[metric_class](get_not_nans=True, **kw)
        m(y_pred, y)
        results = [m.aggregate()]
    expected = []
    for f, not_nans in results:
        values, vshape = tolist(f)
        counts, _ = tolist(not_nans)
        expected.append({"values": [None if v != v else v for v in values], "shape": vshape,
                         "not_nans": counts})
    case = {
        "name": name,
        "shape": list(shape),
        "preds": logits.flatten().tolist(),
        "decision": decision,
        "metric": metric_class,
        "kwargs": kw,
        "expected": expected,
    }
    if names is not None:
        case["metric_names"] = names
    if dense:
        case["dense"] = y.flatten().tolist()
    else:
        case["labels"] = labels.flatten().tolist()
    cases.append(case)


for red in REDUCTIONS:
    add(f"dice_{red}", (3, 4, 6, 5), "argmax", "DiceMetric", {"reduction": red}, missing=True)
    add(f"iou_{red}", (3, 4, 6, 5), "argmax", "MeanIoU", {"reduction": red}, missing=True)
add("dice_no_background", (2, 3, 5, 7), "argmax", "DiceMetric",
    {"include_background": False}, missing=True)
add("dice_keep_empty", (3, 4, 6, 5), "argmax", "DiceMetric",
    {"ignore_empty": False, "reduction": "none"}, missing=True)
add("dice_keep_empty_mean", (3, 4, 6, 5), "argmax", "DiceMetric", {"ignore_empty": False},
    missing=True)
add("dice_ignore_label", (2, 4, 6, 6), "argmax", "DiceMetric", {"reduction": "mean_batch"},
    ignore=True)
add("dice_3d", (2, 3, 4, 5, 3), "argmax", "DiceMetric", {"reduction": "none"})
add("dice_sigmoid_multilabel", (2, 3, 6, 5), "sigmoid", "DiceMetric", {"reduction": "none"},
    dense=True, missing=True)
add("iou_no_background_keep_empty", (3, 4, 6, 5), "argmax", "MeanIoU",
    {"include_background": False, "ignore_empty": False, "reduction": "none"}, missing=True)
add("iou_ignore_label", (2, 4, 6, 6), "argmax", "MeanIoU", {"reduction": "mean_batch"},
    ignore=True)
add("dice_void_sample_mean", (3, 3, 5, 5), "argmax", "DiceMetric", {}, ignore=True, void=True)
add("iou_void_sample_mean", (3, 3, 5, 5), "argmax", "MeanIoU", {}, ignore=True, void=True)
add("iou_ignore_class", (2, 4, 6, 6), "argmax", "MeanIoU",
    {"reduction": "none", "ignore_index": 2})
for red in ["mean", "sum", "mean_batch", "mean_channel", "none"]:
    add(f"cm_{red}", (3, 4, 6, 5), "argmax", "ConfusionMatrixMetric", {"reduction": red},
        missing=True, names=CM_NAMES)
    add(f"cm_sample_{red}", (3, 4, 6, 5), "argmax", "ConfusionMatrixMetric",
        {"reduction": red, "compute_sample": True}, missing=True, names=CM_NAMES)
add("cm_no_background_ignore", (2, 3, 7, 5), "argmax", "ConfusionMatrixMetric",
    {"include_background": False, "reduction": "mean_batch"}, ignore=True, names=CM_NAMES)
add("cm_ignore_class", (2, 4, 6, 6), "argmax", "ConfusionMatrixMetric",
    {"reduction": "mean_batch", "ignore_index": 1, "compute_sample": True}, names=CM_NAMES)
add("cm_sigmoid", (2, 2, 8, 6), "sigmoid", "ConfusionMatrixMetric",
    {"reduction": "mean_batch"}, dense=True, names=CM_NAMES)

with open(args.out, "w") as f:
    json.dump({"generator": "tools/gen_metric_fixtures.py", "monai": __import__("monai").__version__,
               "torch": torch.__version__, "seed": args.seed, "cases": cases}, f)
print(f"{len(cases)} cases -> {args.out}")
