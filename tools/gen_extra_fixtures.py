#!/usr/bin/env python3
"""More reference cases, in the format of ../shared/fixtures/gen_fixtures.py, for the option
combinations its 33 cases leave out. Every value is computed by PyTorch float64 autograd through
the public MONAI / smp classes (nothing by softdice). Run by hand, not by CI:

    python3 -m venv venv && venv/bin/pip install torch monai segmentation-models-pytorch
    venv/bin/python tools/gen_extra_fixtures.py --out tests/fixtures/extra_cases.json
"""
import torch
import monai, monai.losses as ml
import segmentation_models_pytorch as smp

from fixturelib import IGNORE, start

args, g, fx = start(default_seed=3)
put, tensor, case = fx.put, fx.tensor, fx.case


B, C, H, W = 2, 6, 7, 12
x = put("logits", (torch.randn((B, C, H, W), generator=g) * 2.5).float(), "f32")
y = torch.randint(0, C, (B, H, W), generator=g)
y[0][y[0] == 2] = 0                      # class 2 absent from sample 0
y[y == 4] = 0                            # class 4 absent from the batch
yl = put("labels", y, "i64")
yi_t = y.clone(); yi_t[torch.rand((B, H, W), generator=g) < 0.2] = IGNORE
yi = put("labels_ignore", yi_t, "i64")
p = put("probs", tensor(x).softmax(1).float(), "f32")
xm = put("logits_ml", (torch.randn((3, 4, 6, 5), generator=g) * 2).float(), "f32")
ym_t = (torch.rand((3, 4, 6, 5), generator=g) < 0.35).float(); ym_t[1, 2] = 0.0
ym = put("onehot_ml", ym_t, "f32")
ymi_t = ym_t.clone(); ymi_t[torch.rand((3, 4, 6, 5), generator=g) < 0.1] = IGNORE
ymi = put("onehot_ml_ignore", ymi_t, "f32")
x1 = put("logits_1d", (torch.randn((4, 3, 50), generator=g) * 2).float(), "f32")
y1 = put("labels_1d", torch.randint(0, 3, (4, 50), generator=g), "i64")


def monai_call(cls, kw):
    return f"monai.losses.{cls.__name__}(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"


def monai_case(cid, cls, kw, inp, kind, tgt, tkind):
    def fn(a, b):
        return cls(**kw)(a, b.unsqueeze(1) if b.dtype == torch.int64 else b)
    case(cid, "monai", monai_call(cls, kw), inp, kind, tgt, tkind, fn)


oh = dict(to_onehot_y=True, softmax=True)
monai_case("monai_batch_none", ml.DiceLoss, dict(**oh, batch=True, reduction="none"), x, "logits", yl, "labels")
monai_case("monai_squared_jaccard", ml.DiceLoss, dict(**oh, squared_pred=True, jaccard=True), x, "logits", yl, "labels")
monai_case("monai_nobg_weight", ml.DiceLoss, dict(**oh, include_background=False, weight=[1.0, 2.0, 3.0, 4.0, 5.0]), x, "logits", yl, "labels")
monai_case("monai_batch_ignore_sum", ml.DiceLoss, dict(**oh, batch=True, ignore_index=IGNORE, reduction="sum"), x, "logits", yi, "labels")
monai_case("monai_probs_onehot_y", ml.DiceLoss, dict(to_onehot_y=True, smooth_nr=0.0, smooth_dr=1e-6), p, "probs", yl, "labels")
monai_case("monai_sigmoid_nobg", ml.DiceLoss, dict(sigmoid=True, include_background=False, batch=True), xm, "logits", ym, "onehot")
monai_case("monai_sigmoid_jaccard_none", ml.DiceLoss, dict(sigmoid=True, jaccard=True, reduction="none"), xm, "logits", ym, "onehot")
monai_case("monai_1d", ml.DiceLoss, dict(**oh), x1, "logits", y1, "labels")
monai_case("monai_gdl_batch", ml.GeneralizedDiceLoss, dict(**oh, batch=True), x, "logits", yl, "labels")
monai_case("monai_gdl_none", ml.GeneralizedDiceLoss, dict(**oh, reduction="none", w_type="simple"), x, "logits", yl, "labels")
monai_case("monai_gdl_sum_nobg", ml.GeneralizedDiceLoss, dict(**oh, reduction="sum", include_background=False), x, "logits", yl, "labels")


def smp_case(cid, kw, inp, tgt, tkind, kind="logits"):
    call = "segmentation_models_pytorch.losses.DiceLoss(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"
    case(cid, "smp", call, inp, kind, tgt, tkind, lambda a, b: smp.losses.DiceLoss(**kw)(a, b))


smp_case("smp_log_absent", dict(mode="multiclass", log_loss=True), x, yl, "labels")
smp_case("smp_classes_weights_smooth", dict(mode="multiclass", classes=[0, 3, 5], class_weights=[0.5, 1, 1, 2, 1, 3], smooth=0.5), x, yl, "labels")
smp_case("smp_probs", dict(mode="multiclass", from_logits=False), p, yl, "labels", kind="probs")
smp_case("smp_ignore_eps", dict(mode="multiclass", ignore_index=IGNORE, eps=1e-4), x, yi, "labels")
smp_case("smp_multilabel_ignore", dict(mode="multilabel", ignore_index=IGNORE), xm, ymi, "onehot")
smp_case("smp_multilabel_log_smooth", dict(mode="multilabel", log_loss=True, smooth=1.0), xm, ym, "onehot")
smp_case("smp_1d", dict(mode="multiclass"), x1, y1, "labels")

fx.write(args.out, {"profile": f"extra-seed{args.seed}", "torch": torch.__version__, "monai": monai.__version__,
                    "segmentation_models_pytorch": smp.__version__, "ignore_label": IGNORE})
