#!/usr/bin/env python3
"""Reference cases for Dice + cross-entropy compounds (issue 14): PyTorch `CrossEntropyLoss`
(weight, ignore_index, label_smoothing, reduction; integer labels and probability targets) and
`BCEWithLogitsLoss`, MONAI 1.6.1 `DiceCELoss` (lambdas, weight shared by both terms, label
smoothing, softmax and one-channel sigmoid/BCE, a Dice term on another activation than the CE
term's), and nnU-Net's `DC_and_CE_loss` re-typed from nnunetv2/training/loss/compound_losses.py
with its `MemoryEfficientSoftDiceLoss` and `RobustCrossEntropyLoss`. PyTorch float64 autograd;
each call string is evaluated as written (the nnU-Net class is the re-typed one below). Run by
hand:

    python3 -m venv venv && venv/bin/pip install torch monai==1.6.1 segmentation-models-pytorch==0.6.0
    venv/bin/python tools/gen_compound_fixtures.py --out tests/fixtures/compound_cases.json
"""
import argparse
import torch
import monai, monai.losses  # noqa: F401  (the calls name monai.losses.*)

from fixturelib import Fixture

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--seed", type=int, default=14)
args = ap.parse_args()
g = torch.Generator().manual_seed(args.seed)
# Weights written `torch.tensor([...])` in the calls are float64 like the inputs.
torch.set_default_dtype(torch.float64)
IGNORE = 255
fx = Fixture()
put = fx.put


# --- nnU-Net, re-typed from nnunetv2/training/loss/{dice,robust_ce_loss,compound_losses}.py
# (ddp=False; apply_nonlin=softmax_helper_dim1).
class MemoryEfficientSoftDiceLoss(torch.nn.Module):
    def __init__(self, apply_nonlin=None, batch_dice=False, do_bg=True, smooth=1.0, ddp=False):
        super().__init__()
        self.apply_nonlin, self.batch_dice, self.do_bg, self.smooth = apply_nonlin, batch_dice, do_bg, smooth

    def forward(self, x, y, loss_mask=None):
        if self.apply_nonlin is not None:
            x = self.apply_nonlin(x)
        axes = tuple(range(2, x.ndim))
        with torch.no_grad():
            if x.ndim != y.ndim:
                y = y.view((y.shape[0], 1, *y.shape[1:]))
            y_onehot = torch.zeros(x.shape, device=x.device, dtype=torch.bool)
            y_onehot.scatter_(1, y.long(), 1)
            if not self.do_bg:
                y_onehot = y_onehot[:, 1:]
            sum_gt = y_onehot.sum(axes) if loss_mask is None else (y_onehot * loss_mask).sum(axes)
        if not self.do_bg:
            x = x[:, 1:]
        if loss_mask is None:
            intersect = (x * y_onehot).sum(axes)
            sum_pred = x.sum(axes)
        else:
            intersect = (x * y_onehot * loss_mask).sum(axes)
            sum_pred = (x * loss_mask).sum(axes)
        if self.batch_dice:
            intersect, sum_pred, sum_gt = intersect.sum(0), sum_pred.sum(0), sum_gt.sum(0)
        dc = (2 * intersect + self.smooth) / (torch.clip(sum_gt + sum_pred + self.smooth, 1e-8))
        return -dc.mean()


class RobustCrossEntropyLoss(torch.nn.CrossEntropyLoss):
    def forward(self, input, target):
        if target.ndim == input.ndim:
            assert target.shape[1] == 1
            target = target[:, 0]
        return super().forward(input, target.long())


class DC_and_CE_loss(torch.nn.Module):
    def __init__(self, soft_dice_kwargs, ce_kwargs, weight_ce=1, weight_dice=1, ignore_label=None,
                 dice_class=MemoryEfficientSoftDiceLoss):
        super().__init__()
        if ignore_label is not None:
            ce_kwargs["ignore_index"] = ignore_label
        self.weight_dice, self.weight_ce, self.ignore_label = weight_dice, weight_ce, ignore_label
        self.ce = RobustCrossEntropyLoss(**ce_kwargs)
        self.dc = dice_class(apply_nonlin=lambda t: torch.softmax(t, 1), **soft_dice_kwargs)

    def forward(self, net_output, target):
        if self.ignore_label is not None:
            mask = target != self.ignore_label
            target_dice = torch.where(mask, target, 0)
            num_fg = mask.sum()
        else:
            target_dice, mask = target, None
        dc_loss = self.dc(net_output, target_dice, loss_mask=mask) if self.weight_dice != 0 else 0
        ce_loss = self.ce(net_output, target[:, 0]) \
            if self.weight_ce != 0 and (self.ignore_label is None or num_fg > 0) else 0
        return self.weight_ce * ce_loss + self.weight_dice * dc_loss


NAMES = {"torch": torch, "monai": monai, "DC_and_CE_loss": DC_and_CE_loss}


def case(cid, library, call, inp, kind, tgt, tkind, channel_dim=False):
    loss_fn = eval(call, NAMES)

    def fn(x, y):
        if channel_dim and y.dim() == x.dim() - 1:
            y = y.unsqueeze(1)
        return loss_fn(x, y)
    fx.case(cid, library, call, inp, kind, tgt, tkind, fn)


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

# nnU-Net DC_and_CE_loss (its default: batch dice, no background, smooth 1e-5, weights 1, 1).
NN = "DC_and_CE_loss({'batch_dice': %s, 'smooth': 1e-5, 'do_bg': False}, {}, weight_ce=%s, weight_dice=%s, ignore_label=%s)"
case("nnunet_dc_ce", "nnunet", NN % (True, 1, 1, None), x, "logits", y, "labels", True)
case("nnunet_dc_ce_ignore", "nnunet", NN % (True, 1, 1, IGNORE), x, "logits", yi, "labels", True)
case("nnunet_dc_ce_weights_sample", "nnunet", NN % (False, 2.0, 0.5, None), x, "logits", y, "labels", True)
case("nnunet_dc_ce_3d", "nnunet", NN % (True, 1, 1, None), x3, "logits", y3, "labels", True)

fx.write(args.out, {"profile": f"compound-seed{args.seed}", "torch": torch.__version__,
                    "monai": monai.__version__, "ignore_label": IGNORE})
