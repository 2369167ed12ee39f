#!/usr/bin/python3
"""Head masks, head importance and gradient-weighted rollout of the PyTorch twins
(scripts/torch/qkv_models.py) on the checkpoints and batches of tests/ref/model_*.h5, for
tests/attend_gradients_refs_test.cpp (issue 15: --mask-heads, --importance, --grad-rollout).

    /usr/bin/python3 scripts/ref/make_head_analysis_refs.py

Every attention layer is replaced by a twin with a gate per head (1 = unchanged) multiplying the
head's output before the output projection (nn.MultiheadAttention's forward and the gpt's
CausalSelfAttention.forward are patched), and keeps its softmax weights A with their gradient.
Layers are numbered per kind in forward order, as qkv's attention_maps() lists them. Writes
tests/ref/head_analysis.h5, per case:

  /<case> attrs mask_heads (qkv's --mask-heads syntax), loss, loss_masked: mean cross-entropy over
          the counted targets (no label smoothing) with all gates 1 and with the named heads' gates 0
  /<case>/importance_raw/<kind> (L, H): sum over the batch rows x of |dL_x/dgate_h|, L_x row x's mean
          cross-entropy over its counted targets (each row its own forward and backward)
  /<case>/importance/<kind> (L, H): importance_raw with each layer divided by its L2 norm
  /<case>/grad_target (B, 2): position and id of each row's target output (lm: last position, the
          teacher-forced next token; seq2seq: last target position, its tgt_out; vit: predicted class)
  /<case>/lengths (B, 2): each row's S source (sequence) tokens and T target positions
  /<case>/grad_rollout/<kind>/<row> (tq, tk): Chefer et al. 2021's relevance of the row's target
          (self / encoder_self (S, S); decoder_self R_qq (T, T); cross R_qs (T, S)), the rules of
          libcore/attend/gradients.h computed in float64 on the row's cropped maps.
"""
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
import qkv_models as Q  # noqa: E402

REF = os.path.join(HERE, "..", "..", "tests", "ref")
MASKS = {"gpt": "0.0,0.1,1.0", "gpt_post": "0.3,1.1,1.2,0.0,0.1", "transformer": "enc.1.0,dec.0.1,cross.1.1",
         "transformer_pre_shared": "enc.0.2,cross.0.0,cross.1.3", "vit": "0.1", "vit_mean": "1.0,1.1"}

layers = []  # (module, kind) in forward order, filled by the first forward
record = []  # per forward: (kind, A) with A retaining its gradient


def gate_of(mod, H):
    if not hasattr(mod, "gate"):
        mod.gate = torch.ones(H, dtype=torch.float64, requires_grad=True)
    return mod.gate


def note(mod, kind, a):
    if all(m is not mod for m, _ in layers):
        layers.append((mod, kind))
    if a.requires_grad:
        a.retain_grad()
    record.append((mod, a))


def heads_out(mod, a, v, B, T, C):
    y = a @ v  # (B, H, Tq, hs)
    y = y * gate_of(mod, a.shape[1]).to(y.dtype)[None, :, None, None]
    return y.transpose(1, 2).reshape(B, T, C)


def mha_forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, **kw):
    B, Tq, C = query.shape
    Tk, H = key.shape[1], self.num_heads
    W, b = self.in_proj_weight, self.in_proj_bias
    q = F.linear(query, W[:C], b[:C]).view(B, Tq, H, C // H).transpose(1, 2)
    k = F.linear(key, W[C:2 * C], b[C:2 * C]).view(B, Tk, H, C // H).transpose(1, 2)
    v = F.linear(value, W[2 * C:], b[2 * C:]).view(B, Tk, H, C // H).transpose(1, 2)
    s = q @ k.transpose(-2, -1) / math.sqrt(C // H)
    if attn_mask is not None:
        s = s + attn_mask
    if key_padding_mask is not None:
        s = s.masked_fill(key_padding_mask[:, None, None, :].bool(), float("-inf"))
    a = F.softmax(s, dim=-1)
    kind = "cross" if query is not key else ("decoder_self" if attn_mask is not None else "self")
    note(self, kind, a)
    return self.out_proj(heads_out(self, a, v, B, Tq, C)), None


def gpt_attn_forward(self, x):
    B, T, C = x.shape
    q, k, v = self.c_attn(x).split(C, dim=2)
    q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
    s = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.h)
    s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    a = F.softmax(s, dim=-1)
    note(self, "self", a)
    return self.c_proj(heads_out(self, a, v, B, T, C))


nn.MultiheadAttention.forward = mha_forward
Q.CausalSelfAttention.forward = gpt_attn_forward


def kinds_of(arch):
    """qkv's kind names, per layer in forward order."""
    out = []
    for _, kind in layers:
        if arch == "transformer" and kind == "self":
            kind = "encoder_self"
        out.append(kind)
    return out


def run(arch, model, batch, rows=None):
    """Logits and per-position targets (lm, seq2seq) or labels (vit) of rows."""
    sel = (lambda t: t) if rows is None else (lambda t: t[rows])
    record.clear()
    if arch == "gpt":
        return model(sel(batch["inp"]).long()), sel(batch["tgt"]).long(), -1
    if arch == "transformer":
        return (model(sel(batch["src"]).long(), sel(batch["tgt_in"]).long()), sel(batch["tgt_out"]).long(),
                model.c["pad_id"])
    return model(sel(batch["patches"])), sel(batch["labels"]).long(), None


def loss_of(logits, tgt, ignore):
    if ignore is None:
        return F.cross_entropy(logits, tgt)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1), ignore_index=ignore)


def set_mask(arch, spec, on):
    kinds = kinds_of(arch)
    prefix = {"enc": "encoder_self", "dec": "decoder_self", "cross": "cross"}
    for (mod, _), kind in zip(layers, kinds):
        with torch.no_grad():
            mod.gate.fill_(1.0)
    if not on:
        return
    for item in spec.split(","):
        parts = item.split(".")
        kind = prefix[parts[0]] if len(parts) == 3 else "self"
        layer, head = int(parts[-2]), int(parts[-1])
        mods = [m for (m, _), k in zip(layers, kinds) if k == kind]
        with torch.no_grad():
            mods[layer].gate[head] = 0.0


def lengths_of(arch, batch, B):
    """Each row's S source (sequence) tokens and T target positions (trailing padding cut)."""
    if arch == "gpt":
        T = batch["inp"].shape[1]
        return [(T, 0)] * B
    if arch == "transformer":
        pad = int(np.asarray(layers_pad[0]))
        src, out = batch["src"].numpy(), batch["tgt_out"].numpy()
        return [(int((src[r] != pad).sum()), int((out[r] != pad).sum())) for r in range(B)]
    P = batch["patches"].shape[1]
    return [(P + (0 if model_mean[0] else 1), 0)] * B


layers_pad, model_mean = [0], [False]


def relevance_self(abars, T):
    r = np.eye(T)
    for a in abars:
        r = r + a @ r
    return r


def nrm(r):
    n = r.shape[0]
    x = r - np.eye(n)
    s = x.sum(axis=1, keepdims=True)
    x = np.divide(x, s, out=np.zeros_like(x), where=s != 0)
    return x + np.eye(n)


def main():
    with h5py.File(os.path.join(REF, "head_analysis.h5"), "w") as out:
        out.attrs["qkv_format"] = "test_reference"
        for case, spec in MASKS.items():
            arch, model = Q.load_qkv(os.path.join(REF, f"model_{case}.h5"))
            model = model.double()
            model.train()  # dropout is 0 in these checkpoints; train mode keeps PyTorch off fused paths
            with h5py.File(os.path.join(REF, f"model_{case}.h5"), "r") as f:
                batch = {k: torch.from_numpy(f["ref/batch"][k][()]) for k in f["ref/batch"]}
            if "patches" in batch:
                batch["patches"] = batch["patches"].double()
            layers.clear()
            layers_pad[0] = model.c.get("pad_id", 0)
            model_mean[0] = model.c.get("pool", "cls") == "mean"
            g = out.create_group(case)
            g.attrs["mask_heads"] = spec
            # losses with all gates 1 and with the mask
            with torch.no_grad():
                logits, tgt, ignore = run(arch, model, batch)
                g.attrs["loss"] = float(loss_of(logits, tgt, ignore))
                set_mask(arch, spec, True)
                logits, tgt, ignore = run(arch, model, batch)
                g.attrs["loss_masked"] = float(loss_of(logits, tgt, ignore))
                set_mask(arch, spec, False)
            kinds = kinds_of(arch)
            B = tgt.shape[0]
            # importance: one forward and backward per row
            imp = [np.zeros(m.gate.shape[0]) for m, _ in layers]
            for r in range(B):
                for m, _ in layers:
                    m.gate.grad = None
                logits, tgt, ignore = run(arch, model, batch, [r])
                loss_of(logits, tgt, ignore).backward()
                for i, (m, _) in enumerate(layers):
                    imp[i] += np.abs(m.gate.grad.numpy())
            for kind in dict.fromkeys(kinds):
                raw = np.stack([imp[i] for i, k in enumerate(kinds) if k == kind])  # (L, H)
                g.create_dataset(f"importance_raw/{kind}", data=raw.astype(np.float32))
                norm = np.linalg.norm(raw, axis=1, keepdims=True)
                g.create_dataset(f"importance/{kind}", data=(raw / np.where(norm > 0, norm, 1)).astype(np.float32))
            # gradient-weighted rollout: one backward of the sum of the rows' target logits
            lengths = lengths_of(arch, batch, B)
            logits, tgt, ignore = run(arch, model, batch)
            targets = []
            for r in range(B):
                if arch == "vit":
                    targets.append((0, int(logits[r].argmax())))
                    continue
                pos = (lengths[r][0] if arch == "gpt" else lengths[r][1]) - 1
                t = int(tgt[r, pos])
                targets.append((pos, t if t != ignore else int(logits[r, pos].argmax())))
            chosen = sum(logits[r, t] if arch == "vit" else logits[r, p, t] for r, (p, t) in enumerate(targets))
            chosen.backward()
            g.create_dataset("grad_target", data=np.array(targets, dtype=np.int64))
            g.create_dataset("lengths", data=np.array(lengths, dtype=np.int64))
            for r, (S, T) in enumerate(lengths):
                abar = {}
                for (mod, a), kind in zip(record, kinds):
                    tq = T if kind in ("decoder_self", "cross") else S
                    tk = T if kind == "decoder_self" else S
                    x = (a.grad[r] * a[r]).detach().numpy()[:, :tq, :tk]
                    abar.setdefault(kind, []).append(np.clip(x, 0, None).mean(axis=0))
                res = {}
                for kind in ("self", "encoder_self"):
                    if kind in abar:
                        res[kind] = relevance_self(abar[kind], S)
                if "cross" in abar:
                    r_ss, r_qq, r_qs = res["encoder_self"], np.eye(T), np.zeros((T, S))
                    for a_self, a_cross in zip(abar["decoder_self"], abar["cross"]):
                        r_qq, r_qs = r_qq + a_self @ r_qq, r_qs + a_self @ r_qs
                        r_qs = r_qs + nrm(r_qq).T @ a_cross @ nrm(r_ss)
                    res["decoder_self"], res["cross"] = r_qq, r_qs
                for kind, v in res.items():
                    g.create_dataset(f"grad_rollout/{kind}/{r}", data=v.astype(np.float32))
            print(f"{case}: loss {g.attrs['loss']:.6f} masked {g.attrs['loss_masked']:.6f}, targets {targets}")


if __name__ == "__main__":
    main()
