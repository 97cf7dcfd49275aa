#!/usr/bin/env python3
"""Reference cases where the peers compute something other than the textbook Dice (issue 13):
smp's L1 intersection (soft targets, predictions equal to their targets), the Tversky family
(smp TverskyLoss alpha/beta/gamma, smp JaccardLoss, MONAI TverskyLoss), MONAI's single-channel
fallbacks, MONAI other_act, MONAI's tuple/tensor/scalar weights and its spatial ignore mask on
one-hot targets. Every value is PyTorch float64 autograd through the public MONAI / smp classes;
each call string is evaluated as written, so the string is exactly what ran. Run by hand:

    python3 -m venv venv && venv/bin/pip install torch monai==1.6.1 segmentation-models-pytorch==0.6.0
    venv/bin/python tools/gen_fidelity_fixtures.py --out tests/fixtures/fidelity_cases.json
"""
import torch
import monai, monai.losses  # noqa: F401  (the calls name monai.losses.*)
import segmentation_models_pytorch
import segmentation_models_pytorch.losses  # noqa: F401

from fixturelib import IGNORE, start

args, g, fx = start(default_seed=13)
put, tensor = fx.put, fx.tensor
NAMES = {"torch": torch, "monai": monai, "segmentation_models_pytorch": segmentation_models_pytorch}


def case(cid, library, call, inp, input_kind, tgt, target_kind, channel_dim=False):
    fx.call_case(cid, library, call, NAMES, inp, input_kind, tgt, target_kind, channel_dim)


def monai_case(cid, call, inp, kind, tgt, tkind):
    case(cid, "monai", "monai.losses." + call, inp, kind, tgt, tkind, channel_dim=True)


def smp_case(cid, call, inp, kind, tgt, tkind):
    case(cid, "smp", "segmentation_models_pytorch.losses." + call, inp, kind, tgt, tkind)


# Inputs: multiclass 2-D and 3-D, multilabel with soft and 0/1 targets, one-channel binary.
B, C, H, W = 2, 4, 9, 11
x = put("logits", (torch.randn((B, C, H, W), generator=g) * 2.5).float(), "f32")
yt = torch.randint(0, C, (B, H, W), generator=g)
yt[yt == 3] = 1                                   # class 3 absent from the batch
y = put("labels", yt, "i64")
yit = yt.clone(); yit[torch.rand((B, H, W), generator=g) < 0.15] = IGNORE
yi = put("labels_ignore", yit, "i64")
ymt = yt.clone(); ymt[torch.rand((B, H, W), generator=g) < 0.15] = -1
ym1 = put("labels_minus1", ymt, "i64")
onehot = torch.nn.functional.one_hot(yt, C).permute(0, 3, 1, 2).double()
# Probabilities equal to their one-hot targets at about half the pixels (|p - y| = 0 there).
pt = tensor(x).softmax(1)
keep = torch.rand((B, 1, H, W), generator=g) < 0.5
pt = torch.where(keep, onehot, pt)
p_eq = put("probs_eq_onehot", pt.float(), "f32")
oh = put("onehot", onehot.float(), "f32")
ohz_t = onehot.clone(); ohz_t[:, :, 0:2, :] = 0.0  # two rows labelled by no class
ohz = put("onehot_unlabelled_rows", ohz_t.float(), "f32")
x3 = put("logits_3d", (torch.randn((2, 3, 4, 5, 6), generator=g) * 2).float(), "f32")
y3 = put("labels_3d", torch.randint(0, 3, (2, 4, 5, 6), generator=g), "i64")

M = (3, 3, 7, 8)
xm = put("logits_ml", (torch.randn(M, generator=g) * 2).float(), "f32")
soft_t = torch.rand(M, generator=g)
soft = put("soft_ml", soft_t.float(), "f32")
pm_t = torch.rand(M, generator=g)
pm = put("probs_ml", pm_t.float(), "f32")
hard_t = (torch.rand(M, generator=g) < 0.4).double()
hard = put("onehot_ml", hard_t.float(), "f32")
# Probabilities equal to their 0/1 targets at about a third of the elements.
peq_t = torch.where(torch.rand(M, generator=g) < 0.35, hard_t, pm_t.double())
peq = put("probs_eq_ml", peq_t.float(), "f32")

xb = put("logits_bin", (torch.randn((3, 1, 8, 9), generator=g) * 2).float(), "f32")
yb_t = (torch.rand((3, 1, 8, 9), generator=g) < 0.4).double()
yb = put("onehot_bin", yb_t.float(), "f32")
ybl = put("labels_bin", yb_t[:, 0].long(), "i64")
pb_t = torch.where(torch.rand((3, 1, 8, 9), generator=g) < 0.4, yb_t, torch.rand((3, 1, 8, 9), generator=g).double())
pb = put("probs_eq_bin", pb_t.float(), "f32")
softb = put("soft_bin", torch.rand((3, 1, 8, 9), generator=g).float(), "f32")
ybi_t = yb_t.clone(); ybi_t[torch.rand((3, 1, 8, 9), generator=g) < 0.15] = IGNORE
ybi = put("onehot_bin_ignore", ybi_t.float(), "f32")

# 1. smp's L1 intersection: soft targets, predictions equal to their targets.
smp_case("smp_ml_soft_probs", "DiceLoss(mode='multilabel', from_logits=False)", pm, "probs", soft, "soft")
smp_case("smp_ml_soft_logits", "DiceLoss(mode='multilabel')", xm, "logits", soft, "soft")
smp_case("smp_ml_soft_log_smooth", "DiceLoss('multilabel', log_loss=True, smooth=0.5)", xm, "logits", soft, "soft")
smp_case("smp_ml_equal", "DiceLoss(mode='multilabel', from_logits=False)", peq, "probs", hard, "onehot")
smp_case("smp_bin_equal", "DiceLoss(mode='binary', from_logits=False)", pb, "probs", yb, "onehot")
smp_case("smp_bin_soft", "DiceLoss(mode='binary', from_logits=False)", pb, "probs", softb, "soft")
smp_case("smp_bin_ignore", f"DiceLoss(mode='binary', ignore_index={IGNORE})", xb, "logits", ybi, "onehot")
smp_case("smp_mc_equal", "DiceLoss(mode='multiclass', from_logits=False)", p_eq, "probs", y, "labels")
smp_case("smp_mc_ignore_minus1", "DiceLoss(mode='multiclass', ignore_index=-1, smooth=1.0)", x, "logits", ym1, "labels")
smp_case("smp_jaccard_mc", "JaccardLoss(mode='multiclass')", x, "logits", y, "labels")
smp_case("smp_jaccard_ml_soft", "JaccardLoss(mode='multilabel', from_logits=False, log_loss=True)", pm, "probs", soft, "soft")
smp_case("smp_jaccard_mc_equal_weights", "JaccardLoss('multiclass', from_logits=False, class_weights=[1.0, 0.5, 2.0, 1.0])", p_eq, "probs", y, "labels")

# 2. The Tversky family.
smp_case("smp_tversky_mc", "TverskyLoss(mode='multiclass', alpha=0.3, beta=0.7)", x, "logits", y, "labels")
smp_case("smp_tversky_mc_gamma", "TverskyLoss(mode='multiclass', alpha=0.7, beta=0.3, gamma=1.5)", x, "logits", y, "labels")
smp_case("smp_tversky_mc_focal_log", "TverskyLoss(mode='multiclass', alpha=0.6, beta=0.4, gamma=0.75, log_loss=True, smooth=0.2, ignore_index=255)", x, "logits", yi, "labels")
smp_case("smp_tversky_classes_weights", "TverskyLoss(mode='multiclass', classes=[0, 2], class_weights=[2.0, 1.0, 0.5, 1.0], gamma=2.0)", x, "logits", y, "labels")
smp_case("smp_tversky_ml_soft", "TverskyLoss(mode='multilabel', alpha=0.2, beta=0.8, gamma=1.3)", xm, "logits", soft, "soft")
smp_case("smp_tversky_bin", "TverskyLoss(mode='binary', alpha=1.0, beta=1.0)", xb, "logits", yb, "onehot")
smp_case("smp_tversky_default_3d", "TverskyLoss('multiclass')", x3, "logits", y3, "labels")
monai_case("monai_tversky", "TverskyLoss(to_onehot_y=True, softmax=True, alpha=0.3, beta=0.7)", x, "logits", y, "labels")
monai_case("monai_tversky_batch_none", "TverskyLoss(to_onehot_y=True, softmax=True, alpha=0.8, beta=0.2, batch=True, reduction='none')", x, "logits", y, "labels")
monai_case("monai_tversky_nobg_sum_ignore", f"TverskyLoss(to_onehot_y=True, softmax=True, include_background=False, reduction='sum', ignore_index={IGNORE})", x, "logits", yi, "labels")
monai_case("monai_tversky_sigmoid_soft", "TverskyLoss(sigmoid=True, alpha=0.4, beta=0.9, smooth_nr=0.0, smooth_dr=1e-3)", xm, "logits", soft, "soft")
monai_case("monai_tversky_soft_label", "TverskyLoss(sigmoid=True, soft_label=True, alpha=0.6, beta=0.4)", xm, "logits", soft, "soft")
monai_case("monai_tversky_3d", "TverskyLoss(to_onehot_y=True, softmax=True, alpha=0.25, beta=0.75)", x3, "logits", y3, "labels")

# 3. MONAI on one channel: softmax, to_onehot_y, include_background and weight are skipped.
monai_case("monai_1ch_softmax_onehot", "DiceLoss(to_onehot_y=True, softmax=True)", xb, "logits", ybl, "labels")
monai_case("monai_1ch_nobg_sigmoid", "DiceLoss(include_background=False, sigmoid=True)", xb, "logits", yb, "onehot")
monai_case("monai_1ch_nobg_softmax_batch", "DiceLoss(include_background=False, softmax=True, batch=True)", pb, "probs", yb, "onehot")
monai_case("monai_1ch_weight", "DiceLoss(sigmoid=True, weight=[3.0], reduction='none')", xb, "logits", yb, "onehot")
monai_case("monai_1ch_gdl", "GeneralizedDiceLoss(to_onehot_y=True, softmax=True, include_background=False)", xb, "logits", ybl, "labels")
monai_case("monai_1ch_tversky", "TverskyLoss(to_onehot_y=True, softmax=True, alpha=0.3, beta=0.7)", pb, "probs", ybl, "labels")
monai_case("monai_2ch_nobg_weight", "DiceLoss(to_onehot_y=True, softmax=True, include_background=False, weight=(3.0,))",
      put("logits_2ch", (torch.randn((2, 2, 6, 7), generator=g) * 2).float(), "f32"), "logits",
      put("labels_2ch", torch.randint(0, 2, (2, 6, 7), generator=g), "i64"), "labels")

# 4. other_act: any activation, composed.
monai_case("monai_act_tanh", "DiceLoss(other_act=torch.tanh)", xm, "logits", hard, "onehot")
monai_case("monai_act_log_softmax", "DiceLoss(to_onehot_y=True, other_act=lambda x: torch.log_softmax(x, dim=1))", x, "logits", y, "labels")
monai_case("monai_act_softmax_module", "DiceLoss(to_onehot_y=True, other_act=torch.nn.Softmax(dim=1), batch=True)", x, "logits", y, "labels")
monai_case("monai_act_relu_jaccard", "DiceLoss(other_act=torch.relu, jaccard=True)", xm, "logits", soft, "soft")
monai_case("monai_act_exp", "DiceLoss(other_act=torch.exp, reduction='sum')", xm, "logits", hard, "onehot")
monai_case("monai_act_softplus_gdl", "GeneralizedDiceLoss(other_act=torch.nn.functional.softplus, w_type='simple')", xm, "logits", hard, "onehot")
monai_case("monai_act_sigmoid_tversky", "TverskyLoss(other_act=torch.sigmoid, alpha=0.7, beta=0.3)", xm, "logits", soft, "soft")
monai_case("monai_act_identity", "DiceLoss(other_act=lambda x: x, squared_pred=True)", pm, "probs", hard, "onehot")

# 5. Every keyword read: weights as tuple, tensor and scalar; positional arguments; the spatial
# ignore mask on one-hot targets (a class index, and a sentinel on unlabelled pixels).
monai_case("monai_weight_tuple_nobg", "DiceLoss(to_onehot_y=True, softmax=True, include_background=False, weight=(3, 2.0, 1))", x, "logits", y, "labels")
monai_case("monai_weight_tensor", "DiceLoss(to_onehot_y=True, softmax=True, weight=torch.tensor([0.5, 1.0, 2.0, 4.0]))", x, "logits", y, "labels")
monai_case("monai_weight_scalar_none", "DiceLoss(to_onehot_y=True, softmax=True, weight=2.0, reduction='none')", x, "logits", y, "labels")
monai_case("monai_positional", "DiceLoss(False, True, False, True)", x, "logits", y, "labels")
monai_case("monai_onehot_ignore_class", "DiceLoss(softmax=True, ignore_index=2)", x, "logits", oh, "onehot")
monai_case("monai_onehot_ignore_sentinel", f"DiceLoss(softmax=True, ignore_index={IGNORE}, batch=True)", x, "logits", ohz, "onehot")
monai_case("monai_labels_ignore_minus1", "DiceLoss(to_onehot_y=True, softmax=True, ignore_index=-1)", x, "logits", ym1, "labels")

fx.write(args.out, {"profile": f"fidelity-seed{args.seed}", "torch": torch.__version__,
                    "monai": monai.__version__,
                    "segmentation_models_pytorch": segmentation_models_pytorch.__version__,
                    "ignore_label": IGNORE})
