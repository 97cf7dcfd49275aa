"""What the reference-case generators share: inputs stored as the fixture format holds them
(flat data, shape, dtype), read back in float64 / int64, and each case's loss and gradient by
PyTorch float64 autograd. The format is ../shared/fixtures/gen_fixtures.py's."""
import json
import warnings

import torch


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

    def write(self, path, generator):
        with open(path, "w") as f:
            json.dump({"generator": generator, "inputs": self.inputs, "cases": self.cases}, f)
        print(f"{len(self.cases)} cases, {len(self.inputs)} inputs -> {path}")
