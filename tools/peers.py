#!/usr/bin/env python3
"""Side-by-side timing of softdice against the Python peers, on this machine, in one run.

Run by hand (not by CI):

    python3 -m venv venv && venv/bin/pip install torch monai segmentation-models-pytorch numpy
    cargo build --release --example throughput
    venv/bin/python tools/peers.py [--shapes 8,4,256,256 4,8,512,512 2,4,96,96,96] [--iters 5]

For each shape, from logits with integer labels: forward+backward medians of
- the seed notebook's SoftDiceLoss (softmax first; `.item()` dropped so autograd runs),
- MONAI DiceLoss(to_onehot_y=True, softmax=True, batch=True),
- smp DiceLoss("multiclass"),
on PyTorch CPU, and softdice's `throughput` example (lavapipe or whatever adapter wgpu finds).
With `--compound`, Dice + cross-entropy instead: MONAI DiceCELoss(to_onehot_y=True,
softmax=True, batch=True) and nnU-Net's DC_and_CE_loss (re-typed, tools/nnunet_losses.py)
against `throughput --loss dice_ce` (nnU-Net's compound);
plus a STREAM-like copy (numpy, 256 MiB) for this machine's memory bandwidth. Prints one JSON
line per measurement and a summary line per shape with the ratios.
"""
import argparse, json, subprocess, sys, time
import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--shapes", nargs="+", default=["8,4,256,256", "4,8,512,512", "2,4,96,96,96"])
ap.add_argument("--iters", type=int, default=5)
ap.add_argument("--throughput", default="target/release/examples/throughput")
ap.add_argument("--compound", action="store_true", help="Dice + cross-entropy peers")
args = ap.parse_args()


def median_ms(fn, iters):
    fn()  # warm-up
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return sorted(ts)[len(ts) // 2]


def copy_bandwidth_gbps():
    a = np.ones(64 * 1024 * 1024, dtype=np.float32)
    b = np.empty_like(a)
    ms = median_ms(lambda: np.copyto(b, a), 7)
    return 2 * a.nbytes / (ms / 1e3) / 1e9  # bytes read + written


class SeedSoftDiceLoss(torch.nn.Module):
    """The notebook's SoftDiceLoss with `.item()` dropped."""

    def __init__(self, num_classes, eps=1e-5):
        super().__init__()
        self.num_classes, self.eps = num_classes, eps

    def forward(self, preds, targets):
        loss = 0
        for cls in range(self.num_classes):
            target = (targets == cls).float()
            pred = preds[:, cls]
            intersection = (pred * target).sum()
            dice = (2 * intersection + self.eps) / (pred.sum() + target.sum() + self.eps)
            loss = loss - dice.log()
        return loss / self.num_classes


def compound_peers():
    import monai.losses as ml
    from nnunet_losses import DC_and_CE_loss
    monai = ml.DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    nnunet = DC_and_CE_loss({"batch_dice": True, "smooth": 1e-5, "do_bg": False}, {})
    return {
        "monai_DiceCELoss": lambda x, y: monai(x, y.unsqueeze(1)),
        "nnunet_DC_and_CE_loss": lambda x, y: nnunet(x, y.unsqueeze(1)),
    }


def peers(c):
    import monai.losses as ml
    import segmentation_models_pytorch as smp
    seed = SeedSoftDiceLoss(c)
    monai = ml.DiceLoss(to_onehot_y=True, softmax=True, batch=True)
    smp_loss = smp.losses.DiceLoss("multiclass")
    return {
        "seed_notebook": lambda x, y: seed(x.softmax(1), y),
        "monai_DiceLoss": lambda x, y: monai(x, y.unsqueeze(1)),
        "smp_DiceLoss": lambda x, y: smp_loss(x, y),
    }


bandwidth = copy_bandwidth_gbps()
print(json.dumps({"measure": "copy_bandwidth", "gbps": round(bandwidth, 3),
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
for shape_s in args.shapes:
    shape = [int(d) for d in shape_s.split(",")]
    b, c, spatial = shape[0], shape[1], shape[2:]
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(shape, generator=g) * 6 - 3
    y = torch.randint(0, c, (b, *spatial), generator=g)
    times = {}
    for name, fn in (compound_peers() if args.compound else peers(c)).items():
        def step():
            x = x0.clone().requires_grad_(True)
            fn(x, y).backward()
        times[name] = median_ms(step, args.iters)
        print(json.dumps({"measure": name, "shape": shape, "forward_backward_ms": round(times[name], 3)}))
    loss = ["--loss", "dice_ce"] if args.compound else []
    out = subprocess.run([args.throughput, "--shape", shape_s, "--labels", "u8", "--iters", "10", *loss],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    sd = json.loads(out)
    print(json.dumps({"measure": "softdice", **sd}))
    fastest = min(times, key=times.get)
    print(json.dumps({
        "summary": shape, "softdice_ms": sd["forward_backward_ms"],
        "fastest_peer": fastest, "fastest_peer_ms": round(times[fastest], 3),
        "speedup_vs_fastest_peer": round(times[fastest] / sd["forward_backward_ms"], 2),
        "softdice_gbps": sd["gbps"], "fraction_of_copy_bandwidth": round(sd["gbps"] / bandwidth, 4),
    }))
    sys.stdout.flush()
