#!/usr/bin/env python3
"""Reference cases for Dice + cross-entropy compounds (issue 14): PyTorch `CrossEntropyLoss`
(weight, ignore_index, label_smoothing, reduction; integer labels and probability targets) and
`BCEWithLogitsLoss`, MONAI 1.6.1 `DiceCELoss` (lambdas, weight shared by both terms, label
smoothing, softmax and one-channel sigmoid/BCE, a Dice term on another activation than the CE
term's), and nnU-Net's `DC_and_CE_loss` re-typed from nnunetv2/training/loss/compound_losses.py
with its `MemoryEfficientSoftDiceLoss` and `RobustCrossEntropyLoss`. PyTorch float64 autograd;
each call string is evaluated as written (the nnU-Net class is the re-typed one below). MONAI's focal family
with `reduction='sum'` closes the file. Run by hand:

    python3 -m venv venv && venv/bin/pip install torch monai==1.6.1 segmentation-models-pytorch==0.6.0
    venv/bin/python tools/gen_compound_fixtures.py --out tests/fixtures/compound_cases.json
"""
import torch
import monai, monai.losses  # noqa: F401  (the calls name monai.losses.*)
import segmentation_models_pytorch
import segmentation_models_pytorch.losses  # noqa: F401

from fixturelib import IGNORE, start
from nnunet_losses import DC_and_CE_loss

args, g, fx = start(default_seed=14)
# Weights written `torch.tensor([...])` in the calls are float64 like the inputs.
torch.set_default_dtype(torch.float64)
put = fx.put
NAMES = {"torch": torch, "monai": monai, "DC_and_CE_loss": DC_and_CE_loss,
         "segmentation_models_pytorch": segmentation_models_pytorch}


def case(cid, library, call, inp, kind, tgt, tkind, channel_dim=False):
    fx.call_case(cid, library, call, NAMES, inp, kind, tgt, tkind, channel_dim)


B, C, H, W = 2, 5, 9, 10
x = put("logits", (torch.randn((B, C, H, W), generator=g) * 2.5).float(), "f32")
yt = torch.randint(0, C, (B, H, W), generator=g)
yt[yt == 4] = 2                                   # class 4 absent
y = put("labels", yt, "i64")
yit = yt.clone(); yit[torch.rand((B, H, W), generator=g) < 0.2] = IGNORE
yi = put("labels_ignore", yit, "i64")
soft_t = torch.rand((B, C, H, W), generator=g) ** 3
soft_t = soft_t / soft_t.sum(1, keepdim=True)
soft = put("soft_probs", soft_t.float(), "f32")
onehot = put("onehot", torch.nn.functional.one_hot(yt, C).permute(0, 3, 1, 2).float(), "f32")
p = put("probs", torch.softmax(fx.tensor(x), 1).float(), "f32")
x3 = put("logits_3d", (torch.randn((2, 3, 4, 5, 6), generator=g) * 2).float(), "f32")
y3 = put("labels_3d", torch.randint(0, 3, (2, 4, 5, 6), generator=g), "i64")
xm = put("logits_ml", (torch.randn((2, 3, 6, 7), generator=g) * 2).float(), "f32")
ym = put("onehot_ml", (torch.rand((2, 3, 6, 7), generator=g) < 0.4).float(), "f32")
xb = put("logits_bin", (torch.randn((3, 1, 8, 7), generator=g) * 2).float(), "f32")
ybt = (torch.rand((3, 8, 7), generator=g) < 0.4).long()
yb = put("labels_bin", ybt, "i64")
ybd = put("onehot_bin", ybt[:, None].float(), "f32")

# torch alone.
T = "torch.nn."
case("ce_plain", "torch", T + "CrossEntropyLoss()", x, "logits", y, "labels")
case("ce_weight", "torch", T + "CrossEntropyLoss(weight=torch.tensor([0.5, 2.0, 1.0, 3.0, 0.25]))", x, "logits", y, "labels")
case("ce_ignore_smoothing", "torch", T + f"CrossEntropyLoss(ignore_index={IGNORE}, label_smoothing=0.1)", x, "logits", yi, "labels")
case("ce_weight_ignore_smoothing_sum", "torch", T + f"CrossEntropyLoss(weight=torch.tensor([1.0, 0.5, 2.0, 1.5, 1.0]), ignore_index={IGNORE}, label_smoothing=0.2, reduction='sum')", x, "logits", yi, "labels")
case("ce_probs_smoothing_weight", "torch", T + "CrossEntropyLoss(weight=torch.tensor([0.5, 2.0, 1.0, 3.0, 0.25]), label_smoothing=0.15)", x, "logits", soft, "soft")
case("ce_3d", "torch", T + "CrossEntropyLoss(label_smoothing=0.05)", x3, "logits", y3, "labels")
case("bce_plain", "torch", T + "BCEWithLogitsLoss()", xm, "logits", ym, "onehot")
case("bce_sum", "torch", T + "BCEWithLogitsLoss(reduction='sum')", xb, "logits", ybd, "onehot")

# MONAI DiceCELoss.
M = "monai.losses."
case("monai_dicece", "monai", M + "DiceCELoss(to_onehot_y=True, softmax=True)", x, "logits", y, "labels", True)
case("monai_dicece_lambdas_smoothing", "monai", M + "DiceCELoss(to_onehot_y=True, softmax=True, lambda_dice=0.7, lambda_ce=0.3, label_smoothing=0.1)", x, "logits", y, "labels", True)
case("monai_dicece_weight_nobg", "monai", M + "DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, weight=torch.tensor([0.5, 1.0, 2.0, 1.5, 3.0]))", x, "logits", y, "labels", True)
case("monai_dicece_batch_sum", "monai", M + "DiceCELoss(to_onehot_y=True, softmax=True, batch=True, reduction='sum', squared_pred=True)", x, "logits", y, "labels", True)
case("monai_dicece_onehot", "monai", M + "DiceCELoss(softmax=True, jaccard=True)", x, "logits", onehot, "onehot", True)
case("monai_dicece_soft_targets", "monai", M + "DiceCELoss(softmax=True, lambda_ce=2.0)", x, "logits", soft, "soft", True)
case("monai_dicece_sigmoid_dice", "monai", M + "DiceCELoss(to_onehot_y=True, sigmoid=True)", x, "logits", y, "labels", True)
case("monai_dicece_probs_dice", "monai", M + "DiceCELoss(to_onehot_y=True, batch=True)", p, "probs", y, "labels", True)
case("monai_dicece_3d", "monai", M + "DiceCELoss(to_onehot_y=True, softmax=True, label_smoothing=0.05)", x3, "logits", y3, "labels", True)
case("monai_dicece_1ch_bce", "monai", M + "DiceCELoss(sigmoid=True)", xb, "logits", ybd, "onehot", True)
case("monai_dicece_1ch_bce_weight", "monai", M + "DiceCELoss(sigmoid=True, weight=torch.tensor([2.5]), lambda_dice=0.5)", xb, "logits", yb, "labels", True)

# MONAI's focal family (sigmoid focal; DiceFocalLoss takes the Dice term's activation for the
# Dice term only).
case("monai_dicefocal", "monai", M + "DiceFocalLoss(to_onehot_y=True, softmax=True)", x, "logits", y, "labels", True)
case("monai_dicefocal_gamma_alpha", "monai", M + "DiceFocalLoss(to_onehot_y=True, softmax=True, gamma=1.5, alpha=0.25, lambda_dice=0.6, lambda_focal=2.0)", x, "logits", y, "labels", True)
case("monai_dicefocal_sigmoid_nobg_weight", "monai", M + "DiceFocalLoss(sigmoid=True, include_background=False, weight=[0.5, 2.0], gamma=3.0, batch=True)", xm, "logits", ym, "onehot", True)
case("monai_dicefocal_soft", "monai", M + "DiceFocalLoss(sigmoid=True, gamma=0.5, alpha=0.7)", xm, "logits", put("soft_ml", torch.rand((2, 3, 6, 7), generator=g).float(), "f32"), "soft", True)
case("monai_dicefocal_1ch", "monai", M + "DiceFocalLoss(sigmoid=True, weight=2.0)", xb, "logits", ybd, "onehot", True)
case("monai_dicefocal_3d", "monai", M + "DiceFocalLoss(to_onehot_y=True, softmax=True, gamma=2.0, squared_pred=True)", x3, "logits", y3, "labels", True)
case("monai_gdlfocal", "monai", M + "GeneralizedDiceFocalLoss(to_onehot_y=True, softmax=True)", x, "logits", y, "labels", True)
case("monai_gdlfocal_weight_lambdas", "monai", M + "GeneralizedDiceFocalLoss(to_onehot_y=True, softmax=True, w_type='simple', weight=[1.0, 0.5, 2.0, 1.0, 3.0], lambda_gdl=0.3, lambda_focal=1.7, gamma=1.0)", x, "logits", y, "labels", True)
case("monai_gdlfocal_sigmoid_nobg", "monai", M + "GeneralizedDiceFocalLoss(sigmoid=True, include_background=False, batch=True)", xm, "logits", ym, "onehot", True)
case("monai_focal", "monai", M + "FocalLoss(to_onehot_y=True)", x, "logits", y, "labels", True)
case("monai_focal_softmax", "monai", M + "FocalLoss(to_onehot_y=True, use_softmax=True)", x, "logits", y, "labels", True)
case("monai_focal_softmax_alpha_weight", "monai", M + "FocalLoss(to_onehot_y=True, use_softmax=True, gamma=1.0, alpha=0.25, weight=[0.5, 1.0, 2.0, 1.5, 3.0])", x, "logits", y, "labels", True)
case("monai_focal_softmax_gamma0_onehot", "monai", M + "FocalLoss(use_softmax=True, gamma=0.0)", x, "logits", onehot, "onehot", True)
case("monai_focal_softmax_3d", "monai", M + "FocalLoss(to_onehot_y=True, use_softmax=True, gamma=3.0)", x3, "logits", y3, "labels", True)
case("monai_focal_alpha_weight", "monai", M + "FocalLoss(gamma=1.0, alpha=0.6, weight=[2.0, 1.0, 0.5])", xm, "logits", ym, "onehot", True)

# MONAI's focal family with reduction='sum' (issue 23): FocalLoss sums per-sample, per-class
# spatial means; DiceLoss and GeneralizedDiceLoss sum their elements. Appended after every
# earlier case so that the earlier inputs and values are unchanged.
FOCAL_SUM = [
    ("monai_dicefocal_sum", M + "DiceFocalLoss(to_onehot_y=True, softmax=True, reduction='sum')", x, y, "labels"),
    ("monai_dicefocal_sum_sigmoid_nobg_weight", M + "DiceFocalLoss(sigmoid=True, include_background=False, weight=[0.5, 2.0], gamma=1.5, alpha=0.25, lambda_focal=0.7, reduction='sum')", xm, ym, "onehot"),
    ("monai_dicefocal_sum_batch_3d", M + "DiceFocalLoss(to_onehot_y=True, softmax=True, batch=True, squared_pred=True, reduction='sum')", x3, y3, "labels"),
    ("monai_dicefocal_sum_1ch", M + "DiceFocalLoss(sigmoid=True, gamma=1.0, reduction='sum')", xb, ybd, "onehot"),
    ("monai_gdlfocal_sum", M + "GeneralizedDiceFocalLoss(to_onehot_y=True, softmax=True, reduction='sum')", x, y, "labels"),
    ("monai_gdlfocal_sum_sigmoid_nobg_simple", M + "GeneralizedDiceFocalLoss(sigmoid=True, include_background=False, w_type='simple', lambda_gdl=0.4, reduction='sum')", xm, ym, "onehot"),
    ("monai_focal_sum", M + "FocalLoss(to_onehot_y=True, reduction='sum')", x, y, "labels"),
    ("monai_focal_sum_alpha_weight", M + "FocalLoss(gamma=1.0, alpha=0.6, weight=[2.0, 1.0, 0.5], reduction='sum')", xm, ym, "onehot"),
    ("monai_focal_softmax_sum", M + "FocalLoss(to_onehot_y=True, use_softmax=True, alpha=0.25, reduction='sum')", x, y, "labels"),
    ("monai_focal_softmax_sum_3d", M + "FocalLoss(to_onehot_y=True, use_softmax=True, gamma=3.0, reduction='sum')", x3, y3, "labels"),
]


# Sums written by hand, as smp users write them: `[a *] Dice(...) + [b *] torch CE(...)`, each
# term evaluated on its own (MONAI's terms get the labels' channel axis).
def sum_case(cid, terms, inp, kind, tgt, tkind):
    fns = []
    for weight, call in terms:
        fn = eval(call, NAMES)
        fns.append((weight, fn, call.startswith("monai.")))

    def total(x, y):
        out = 0
        for weight, fn, channel in fns:
            t = y.unsqueeze(1) if channel and y.dim() == x.dim() - 1 else y
            out = out + weight * fn(x, t)
        return out
    text = " + ".join(call if w == 1 else f"{w} * {call}" for w, call in terms)
    fx.case(cid, "sum", text, inp, kind, tgt, tkind, total)


S = "segmentation_models_pytorch.losses."
sum_case("smp_dice_plus_ce", [(1, S + "DiceLoss(mode='multiclass')"), (1, T + "CrossEntropyLoss()")], x, "logits", y, "labels")
sum_case("smp_dice_plus_ce_weighted", [(0.5, S + "DiceLoss(mode='multiclass', log_loss=True)"), (2.0, T + "CrossEntropyLoss(weight=torch.tensor([0.5, 2.0, 1.0, 3.0, 0.25]), label_smoothing=0.1)")], x, "logits", y, "labels")
sum_case("smp_dice_plus_ce_ignore", [(1, S + f"DiceLoss(mode='multiclass', ignore_index={IGNORE})"), (1, T + f"CrossEntropyLoss(ignore_index={IGNORE})")], x, "logits", yi, "labels")
sum_case("smp_dice_plus_bce", [(1, S + "DiceLoss(mode='multilabel')"), (0.7, T + "BCEWithLogitsLoss()")], xm, "logits", ym, "onehot")
sum_case("smp_tversky_plus_ce_3d", [(1, S + "TverskyLoss(mode='multiclass', alpha=0.3, beta=0.7)"), (1, T + "CrossEntropyLoss()")], x3, "logits", y3, "labels")
sum_case("monai_dice_plus_ce", [(1, M + "DiceLoss(to_onehot_y=True, softmax=True, batch=True)"), (1, T + "CrossEntropyLoss(label_smoothing=0.05)")], x, "logits", y, "labels")

# nnU-Net DC_and_CE_loss (its default: batch dice, no background, smooth 1e-5, weights 1, 1).
NN = "DC_and_CE_loss({'batch_dice': %s, 'smooth': 1e-5, 'do_bg': False}, {}, weight_ce=%s, weight_dice=%s, ignore_label=%s)"
case("nnunet_dc_ce", "nnunet", NN % (True, 1, 1, None), x, "logits", y, "labels", True)
case("nnunet_dc_ce_ignore", "nnunet", NN % (True, 1, 1, IGNORE), x, "logits", yi, "labels", True)
case("nnunet_dc_ce_weights_sample", "nnunet", NN % (False, 2.0, 0.5, None), x, "logits", y, "labels", True)
case("nnunet_dc_ce_3d", "nnunet", NN % (True, 1, 1, None), x3, "logits", y3, "labels", True)

for cid, call, inp, tgt, tkind in FOCAL_SUM:
    case(cid, "monai", call, inp, "logits", tgt, tkind, True)

fx.write(args.out, {"profile": f"compound-seed{args.seed}", "torch": torch.__version__,
                    "monai": monai.__version__, "ignore_label": IGNORE})
