"""What the reference-case generators share: inputs stored as the fixture format holds them
(flat data, shape, dtype), read back in float64 / int64, and each case's loss and gradient by
PyTorch float64 autograd. The format is ../shared/fixtures/gen_fixtures.py's."""
import argparse
import json
import warnings

import torch

# The ignore label of every generator's label inputs.
IGNORE = 255


def start(default_seed):
    """A generator's command line (`--out FILE`, `--seed N`), its seeded random generator and
    an empty fixture."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=default_seed)
    args = ap.parse_args()
    return args, torch.Generator().manual_seed(args.seed), Fixture()


class Fixture:
    def __init__(self):
        self.inputs, self.cases = {}, []

    def put(self, name, t, dtype):
        """Stores tensor `t` as input `name` (dtype "f32" or "i64"); returns the name."""
        self.inputs[name] = {"shape": list(t.shape), "dtype": dtype,
                             "data": [float(v) if dtype == "f32" else int(v) for v in t.flatten().tolist()]}
        return name

    def tensor(self, name):
        """Input `name` as a float64 (f32 inputs) or int64 tensor."""
        d = self.inputs[name]
        t = torch.tensor(d["data"], dtype=torch.float64 if d["dtype"] == "f32" else torch.int64)
        return t.view(d["shape"])

    def case(self, cid, library, call, inp, input_kind, tgt, target_kind, fn):
        """Runs fn(input, target) in float64 and stores the loss, d sum(loss) / d input and the
        warnings the call raised."""
        x = self.tensor(inp).clone().requires_grad_(True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = fn(x, self.tensor(tgt))
        loss.sum().backward()
        self.cases.append({"id": cid, "library": library, "call": call, "input": inp,
                           "input_kind": input_kind, "target": tgt, "target_kind": target_kind,
                           "loss_shape": list(loss.shape),
                           "warnings": [str(w.message) for w in caught],
                           "loss": [float(v) for v in loss.detach().flatten().tolist()],
                           "grad": [float(v) for v in x.grad.flatten().tolist()]})

    def call_case(self, cid, library, call, names, inp, input_kind, tgt, target_kind,
                  channel_dim=False):
        """Evaluates the call string `call` in `names` (so the string is exactly what ran) and
        applies it to the stored input and target; labels get MONAI's channel axis when
        `channel_dim`."""
        loss_fn = eval(call, names)

        def fn(x, y):
            if channel_dim and y.dim() == x.dim() - 1:
                y = y.unsqueeze(1)
            return loss_fn(x, y)
        self.case(cid, library, call, inp, input_kind, tgt, target_kind, fn)

    def write(self, path, generator):
        with open(path, "w") as f:
            json.dump({"generator": generator, "inputs": self.inputs, "cases": self.cases}, f)
        print(f"{len(self.cases)} cases, {len(self.inputs)} inputs -> {path}")
