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


def causal_mask(T):
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True = hidden


def pad_mask(B, T, lengths):
    m = torch.zeros(B, T, dtype=torch.bool)
    for b, n in enumerate(lengths):
        m[b, n:] = True
    return m  # True = padded key


def module_params(mod, prefix=""):
    return {prefix + k: p for k, p in mod.named_parameters()}


def randomize(mod, scale=0.3):
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_((torch.randn(p.shape) * scale).float().double())


def save_module_case(w, name, attrs, inputs, out, mod, extra=None):
    """inputs: name -> leaf tensor; saves params as param/<torch name> and grads as grad/<torch name>."""
    params = module_params(mod)
    leaves = dict(inputs)
    leaves.update({"param/" + k: v for k, v in params.items()})
    dout = torch.randn(out.shape, dtype=DT).float().double()
    gs = torch.autograd.grad(out, list(leaves.values()), dout, allow_unused=True)
    tensors = {k: v for k, v in inputs.items()}
    tensors.update({"param/" + k: v for k, v in params.items()})
    tensors.update({"d" + k if not k.startswith("param/") else "grad/" + k[6:]: g
                    for k, g in zip(leaves.keys(), gs) if g is not None})
    tensors["out"] = out
    tensors["dout"] = dout
    tensors.update(extra or {})
    w.case(name, attrs, **tensors)


def mha(w):
    C, H = 16, 4
    for name, B, Tq, Tk, causal, lengths in [("mha_self_causal_pad", 2, 6, 6, True, [6, 4]),
                                             ("mha_self_plain", 2, 5, 5, False, None),
                                             ("mha_cross_pad", 3, 5, 7, False, [7, 3, 5])]:
        m = torch.nn.MultiheadAttention(C, H, batch_first=True).double()
        randomize(m)
        xq = f32((B, Tq, C))
        self_attn = name.startswith("mha_self")
        xkv = xq if self_attn else f32((B, Tk, C))
        kpm = pad_mask(B, Tk, lengths) if lengths else None
        am = causal_mask(Tq) if causal else None
        out, att = m(xq, xkv, xkv, key_padding_mask=kpm, attn_mask=am, need_weights=True,
                     average_attn_weights=False)
        inputs = {"x_q": xq} if self_attn else {"x_q": xq, "x_kv": xkv}
        extra = {"att": att}
        if kpm is not None:
            extra["key_padding_mask"] = kpm.numpy().astype(np.uint8)
        save_module_case(w, name, {"n_head": H, "causal": int(causal), "self": int(self_attn)}, inputs, out, m, extra)


def ffn(w):
    C, F_ = 8, 20
    lin1, lin2 = torch.nn.Linear(C, F_).double(), torch.nn.Linear(F_, C).double()
    mod = torch.nn.ModuleDict({"linear1": lin1, "linear2": lin2})
    randomize(mod, 0.4)
    x = f32((3, 4, C))
    out = lin2(F.gelu(lin1(x)))
    save_module_case(w, "ffn_gelu", {}, {"inp": x}, out, mod)


def layer_cases(w):
    C, H, F_ = 16, 4, 24
    for name, norm_first, act, causal in [("enc_post_relu_pad", False, "relu", False),
                                          ("enc_pre_gelu_causal_pad", True, "gelu", True)]:
        m = torch.nn.TransformerEncoderLayer(C, H, F_, dropout=0.0, activation=act, batch_first=True,
                                             norm_first=norm_first).double()
        randomize(m)
        with torch.no_grad():
            m.norm1.weight.add_(1.0)
            m.norm2.weight.add_(1.0)
        B, T = 2, 6
        x = f32((B, T, C))
        kpm = pad_mask(B, T, [6, 4])
        out = m(x, src_mask=causal_mask(T) if causal else None, src_key_padding_mask=kpm)
        save_module_case(w, name, {"norm_first": int(norm_first), "activation": act, "causal": int(causal),
                                   "n_head": H, "d_ff": F_},
                         {"inp": x}, out, m, {"key_padding_mask": kpm.numpy().astype(np.uint8)})
    for name, norm_first, act in [("dec_post_relu_pad", False, "relu"), ("dec_pre_gelu_pad", True, "gelu")]:
        m = torch.nn.TransformerDecoderLayer(C, H, F_, dropout=0.0, activation=act, batch_first=True,
                                             norm_first=norm_first).double()
        randomize(m)
        with torch.no_grad():
            for n in (m.norm1, m.norm2, m.norm3):
                n.weight.add_(1.0)
        B, T, S = 2, 5, 7
        x, mem = f32((B, T, C)), f32((B, S, C))
        tpm, mpm = pad_mask(B, T, [5, 3]), pad_mask(B, S, [7, 4])
        out = m(x, mem, tgt_mask=causal_mask(T), tgt_key_padding_mask=tpm, memory_key_padding_mask=mpm)
        save_module_case(w, name, {"norm_first": int(norm_first), "activation": act, "causal": 1, "n_head": H,
                                   "d_ff": F_},
                         {"inp": x, "memory": mem}, out, m,
                         {"tgt_key_padding_mask": tpm.numpy().astype(np.uint8),
                          "memory_key_padding_mask": mpm.numpy().astype(np.uint8)})


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    w = Writer(OUT)
    for make in [linear, embedding, layernorm, activations, cross_entropy, positional, mha, ffn, layer_cases]:
        make(w)
    w.f.close()
    print(OUT, os.path.getsize(OUT), "bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
