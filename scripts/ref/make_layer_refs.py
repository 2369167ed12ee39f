#!/usr/bin/python3
"""Golden references for the engine's layers (libcore/nn), from PyTorch.

Run with Debian's python (torch 1.13, h5py):  /usr/bin/python3 scripts/ref/make_layer_refs.py
Writes tests/ref/layers.h5: one group per case holding the inputs, the
parameters (PyTorch names and shapes), the forward output, a random upstream
gradient `dout` and every gradient (inputs and parameters) PyTorch computes for
it. Inputs are float32 values; the reference math runs in float64 so the file
holds the exact answer for those float32 inputs. Read by tests/nn_layers_test.cpp.
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "ref", "layers.h5")
torch.manual_seed(1234)
DT = torch.float64


def f32(shape, scale=1.0):
    """Random normal values, rounded to float32, held as float64 leaves."""
    return (torch.randn(*shape) * scale).float().double().requires_grad_(True)


def np32(t):
    return t.detach().float().numpy() if t.is_floating_point() else t.detach().numpy()


class Writer:
    def __init__(self, path):
        self.f = h5py.File(path, "w")
        self.f.attrs["qkv_format"] = "test_reference"
        self.f.attrs["qkv_format_version"] = 1
        self.f.attrs["generator"] = "scripts/ref/make_layer_refs.py, torch " + torch.__version__

    def case(self, name, attrs=None, **tensors):
        g = self.f.create_group(name)
        for k, v in (attrs or {}).items():
            g.attrs[k] = v
        for k, t in tensors.items():
            if t is None:
                continue
            a = np32(t) if torch.is_tensor(t) else np.asarray(t)
            g.create_dataset(k, data=a)


def grads(out, leaves):
    """Random upstream gradient; returns dout and the grads of the named leaves."""
    dout = torch.randn(out.shape, dtype=DT).float().double()
    gs = torch.autograd.grad(out, list(leaves.values()), dout, allow_unused=True)
    return dout, {"d" + k: g for k, g in zip(leaves.keys(), gs)}


def linear(w):
    x, W, b = f32((2, 5, 7)), f32((6, 7), 0.4), f32((6,), 0.1)
    out = F.linear(x, W, b)
    dout, g = grads(out, {"inp": x, "weight": W, "bias": b})
    w.case("linear", inp=x, weight=W, bias=b, out=out, dout=dout, **g)


def embedding(w):
    V, C = 11, 6
    ids = torch.tensor([[1, 3, 0, 3, 10], [7, 0, 0, 2, 3]], dtype=torch.int32)
    W = f32((V, C))
    out = F.embedding(ids.long(), W, padding_idx=0)
    dout, g = grads(out, {"weight": W})
    w.case("embedding", {"padding_idx": 0}, ids=ids, weight=W, out=out, dout=dout, **g)


def layernorm(w):
    x = f32((3, 4, 16), 2.0) + 0.5
    x = x.detach().requires_grad_(True)
    W, b = (1 + f32((16,), 0.3)).detach().requires_grad_(True), f32((16,), 0.2)
    out = F.layer_norm(x, (16,), W, b, eps=1e-5)
    dout, g = grads(out, {"inp": x, "weight": W, "bias": b})
    w.case("layernorm", {"eps": 1e-5}, inp=x, weight=W, bias=b, out=out, dout=dout, **g)


def activations(w):
    x = f32((4, 33), 2.0)
    for name, fn in [("relu", F.relu), ("gelu", lambda t: F.gelu(t)),
                     ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh"))]:
        out = fn(x)
        dout, g = grads(out, {"inp": x})
        w.case("act_" + name, inp=x, out=out, dout=dout, **g)


def cross_entropy(w):
    N, T, V = 3, 7, 13
    logits = f32((N, T, V), 2.0)
    targets = torch.randint(1, V, (N, T), dtype=torch.int32)
    targets[0, 5:] = 0  # padding
    targets[2, 2:] = 0
    for name, smooth, ignore in [("ce_plain", 0.0, -100), ("ce_smooth_pad", 0.1, 0)]:
        loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).long(), ignore_index=ignore,
                               label_smoothing=smooth)
        (dlogits,) = torch.autograd.grad(loss, [logits])
        count = int((targets != ignore).sum())
        w.case(name, {"label_smoothing": smooth, "ignore_index": ignore, "count": count},
               logits=logits, targets=targets, loss=loss.reshape(1), dlogits=dlogits)


def positional(w):
    T, C = 9, 10
    pe = torch.zeros(T, C, dtype=DT)
    pos = torch.arange(T, dtype=DT).unsqueeze(1)
    div = torch.exp(torch.arange(0, C, 2, dtype=DT) * (-np.log(10000.0) / C))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    w.case("sinusoidal", out=pe)


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    w = Writer(OUT)
    for make in [linear, embedding, layernorm, activations, cross_entropy, positional]:
        make(w)
    w.f.close()
    print(OUT, os.path.getsize(OUT), "bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
