#!/usr/bin/env python3
"""Reference cases for the loss families beyond Dice and its compounds (issue 23): smp 0.6.0
`MCCLoss` (binary, on probabilities: smp applies no activation; dense 0/1, soft and integer
targets, its `eps`, 2-D and 3-D). PyTorch float64 autograd; each call string is evaluated as
written. Run by hand:

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

fx.write(args.out, {"profile": f"family-seed{args.seed}", "torch": torch.__version__,
                    "segmentation_models_pytorch": segmentation_models_pytorch.__version__})
