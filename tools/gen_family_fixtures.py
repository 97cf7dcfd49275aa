#!/usr/bin/env python3
"""Reference cases for the loss families beyond Dice and its compounds (issue 23): smp 0.6.0
`MCCLoss` (binary, on probabilities: smp applies no activation; dense 0/1, soft and integer
targets, its `eps`, 2-D and 3-D); smp `SoftCrossEntropyLoss` (label smoothing, ignore labels
that still count in the mean, sum) and `SoftBCEWithLogitsLoss` (smoothing, ignored target
values, scalar weight and pos_weight, one and several channels, 3-D). PyTorch float64
autograd; each call string is evaluated as written. Run by hand:

    python3 -m venv venv && venv/bin/pip install torch monai==1.6.1 segmentation-models-pytorch==0.6.0
    venv/bin/python tools/gen_family_fixtures.py --out tests/fixtures/family_cases.json
"""
import torch
import segmentation_models_pytorch
import segmentation_models_pytorch.losses  # noqa: F401  (the calls name smp.losses.*)

from fixturelib import start

args, g, fx = start(default_seed=23)
torch.set_default_dtype(torch.float64)
put = fx.put
NAMES = {"torch": torch, "segmentation_models_pytorch": segmentation_models_pytorch}
S = "segmentation_models_pytorch.losses."

pb = put("probs_bin", torch.sigmoid(torch.randn((3, 1, 8, 7), generator=g) * 2).float(), "f32")
ybt = (torch.rand((3, 8, 7), generator=g) < 0.35).long()
yb = put("labels_bin", ybt, "i64")
ybd = put("onehot_bin", ybt[:, None].float(), "f32")
soft = put("soft_bin", torch.rand((3, 1, 8, 7), generator=g).float(), "f32")
p3 = put("probs_3d", torch.sigmoid(torch.randn((2, 1, 4, 5, 6), generator=g) * 2).float(), "f32")
# Predictions that follow their targets (an MCC near 0.8): the root's term of the gradient is
# large there.
pfit = put("probs_fit", torch.sigmoid(3 * (2 * ybt[:, None].double() - 1) + torch.randn((3, 1, 8, 7), generator=g)).float(), "f32")
y3 = put("onehot_3d", (torch.rand((2, 1, 4, 5, 6), generator=g) < 0.2).float(), "f32")

fx.call_case("smp_mcc", "smp", S + "MCCLoss()", NAMES, pb, "probs", ybd, "onehot")
fx.call_case("smp_mcc_eps", "smp", S + "MCCLoss(eps=0.1)", NAMES, pb, "probs", ybd, "onehot")
fx.call_case("smp_mcc_labels", "smp", S + "MCCLoss()", NAMES, pb, "probs", yb, "labels")
fx.call_case("smp_mcc_soft", "smp", S + "MCCLoss(eps=1e-3)", NAMES, pb, "probs", soft, "soft")
fx.call_case("smp_mcc_fit", "smp", S + "MCCLoss()", NAMES, pfit, "probs", ybd, "onehot")
fx.call_case("smp_mcc_3d", "smp", S + "MCCLoss()", NAMES, p3, "probs", y3, "onehot")

# smp's soft cross-entropies: logits, labels with ignored pixels (255, smp's default -100, -1),
# dense 0/1 and soft targets with ignored elements (-1).
xl = torch.randn((2, 4, 6, 7), generator=g) * 2
lg = put("logits_4c", xl.float(), "f32")
lab = torch.randint(0, 4, (2, 6, 7), generator=g)
holes = torch.rand((2, 6, 7), generator=g) < 0.2
l4 = put("labels_4c", lab, "i64")
l4_255 = put("labels_4c_255", lab.masked_fill(holes, 255), "i64")
l4_m100 = put("labels_4c_m100", lab.masked_fill(holes, -100), "i64")
l4_m1 = put("labels_4c_m1", lab.masked_fill(holes, -1), "i64")
ml = put("logits_ml", (torch.randn((2, 3, 5, 6), generator=g) * 2).float(), "f32")
yml_t = (torch.rand((2, 3, 5, 6), generator=g) < 0.4).float()
yml = put("onehot_ml", yml_t, "f32")
yml_m1 = put("onehot_ml_m1", yml_t.masked_fill(torch.rand((2, 3, 5, 6), generator=g) < 0.15, -1.0), "f32")
xb = put("logits_bin", (torch.randn((3, 1, 8, 7), generator=g) * 2).float(), "f32")
x3 = put("logits_3d", (torch.randn((2, 1, 4, 5, 6), generator=g) * 2).float(), "f32")

SCE = S + "SoftCrossEntropyLoss"
SBCE = S + "SoftBCEWithLogitsLoss"
for cid, call, inp, inp_kind, tgt, tgt_kind in [
    ("smp_soft_ce", SCE + "(smooth_factor=0.1)", lg, "logits", l4, "labels"),
    ("smp_soft_ce_ignore", SCE + "(smooth_factor=0.2, ignore_index=255)", lg, "logits", l4_255, "labels"),
    ("smp_soft_ce_default_ignore", SCE + "(smooth_factor=0.1)", lg, "logits", l4_m100, "labels"),
    ("smp_soft_ce_sum", SCE + "(reduction='sum', smooth_factor=0.05, ignore_index=-1)", lg, "logits", l4_m1, "labels"),
    ("smp_soft_ce_unsmoothed", SCE + "('mean', 0.0, 255)", lg, "logits", l4_255, "labels"),
    ("smp_soft_bce", SBCE + "()", ml, "logits", yml, "onehot"),
    ("smp_soft_bce_smooth", SBCE + "(smooth_factor=0.1)", ml, "logits", yml, "onehot"),
    ("smp_soft_bce_ignore_sum", SBCE + "(ignore_index=-1, reduction='sum', smooth_factor=0.15)", ml, "logits", yml_m1, "onehot"),
    ("smp_soft_bce_ignore_mean", SBCE + "(ignore_index=-1, smooth_factor=0.05)", ml, "logits", yml_m1, "onehot"),
    ("smp_soft_bce_weights", SBCE + "(weight=torch.tensor([0.5]), smooth_factor=0.05, pos_weight=torch.tensor([2.0]))", ml, "logits", yml, "onehot"),
    ("smp_soft_bce_binary_soft", SBCE + "(smooth_factor=0.2)", xb, "logits", soft, "soft"),
    ("smp_soft_bce_3d", SBCE + "(smooth_factor=0.1, pos_weight=torch.tensor(3.0))", x3, "logits", y3, "onehot"),
]:
    fx.call_case(cid, "smp", call, NAMES, inp, inp_kind, tgt, tgt_kind)

fx.write(args.out, {"profile": f"family-seed{args.seed}", "torch": torch.__version__,
                    "segmentation_models_pytorch": segmentation_models_pytorch.__version__})
