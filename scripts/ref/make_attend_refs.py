#!/usr/bin/python3
"""References for libcore/attend (qkv-attend), from numpy, networkx and PyTorch.

Run with Debian's python (torch 1.13, h5py, python3-networkx):
    /usr/bin/python3 scripts/ref/make_attend_refs.py
Writes tests/ref/attend.h5, read by tests/attend_analysis_test.cpp:
  rollout_*/   att (L, H, T, T), attrs fusion, discard_ratio; rollout (T, T)
  flow_*/      att (L, H, T, T); flow (T, T): networkx max flow as in Abnar &
               Zuidema's attention_graph_util.py (edmonds_karp, rows normalised)
  stats_*/     att (H, Tq, Tk), attrs aligned, [special (Tk)], [grid attrs];
               stats (H, 8) in the order of attend/head_stats.h
  sdpa_*/      q, k, v, [key_padding_mask], [param/...]; out, weights (B, H, Tq, Tk)
torch 1.13 has no F.scaled_dot_product_attention: its formula is written out
(softmax(q k^T / sqrt(hs) + mask) v, the documented definition); the --proj
cases run nn.MultiheadAttention itself.
"""
import os

import h5py
import networkx as nx
import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "ref", "attend.h5")
rng = np.random.default_rng(2026)
torch.manual_seed(2026)


def softmax_att(shape, causal=False, pad=None, temp=1.5):
    """Random attention (..., Tq, Tk): rows sum to 1, masked keys exactly 0."""
    s = rng.normal(size=shape) * temp
    Tq, Tk = shape[-2], shape[-1]
    mask = np.zeros((Tq, Tk), bool)
    if causal:
        mask |= np.arange(Tk)[None, :] > np.arange(Tq)[:, None] + (Tk - Tq)
    if pad is not None:
        mask |= pad[None, :]
    s = np.where(mask, -np.inf, s)
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def ahat(att, fusion, discard):
    """Abnar & Zuidema's per-layer matrices, vit-explain's fusion and discard; rows normalised."""
    L, H, T, _ = att.shape
    a = att.astype(np.float64)
    fused = {"mean": a.mean(1), "min": a.min(1), "max": a.max(1)}[fusion]
    out = []
    for l in range(L):
        f = fused[l].reshape(-1).copy()
        k = int(discard * f.size)
        idx = np.argsort(f, kind="stable")[:k]
        f[idx[idx != 0]] = 0
        m = f.reshape(T, T) + np.eye(T)
        out.append(m / m.sum(-1, keepdims=True))
    return out


def rollout(att, fusion, discard):
    r = np.eye(att.shape[-1])
    for m in ahat(att, fusion, discard):
        r = m @ r
    return r


def flow(att):
    mats = ahat(att, "mean", 0.0)
    L, T = len(mats), att.shape[-1]
    G = nx.DiGraph()
    for l in range(L):
        for i in range(T):
            for j in range(T):
                G.add_edge((l + 1) * T + i, l * T + j, capacity=mats[l][i, j])
    out = np.zeros((T, T))
    for i in range(T):
        for j in range(T):
            out[i, j] = nx.maximum_flow_value(G, L * T + i, j, flow_func=nx.algorithms.flow.edmonds_karp)
        out[i] /= out[i].sum()
    return out


def head_stats(att, aligned, special=None, grid=None):
    H, Tq, Tk = att.shape
    a = att.astype(np.float64)
    pos = np.arange(Tq) + Tk - Tq
    out = np.full((H, 9), np.nan)
    live = a.sum(-1) > 0  # (H, Tq)
    for h in range(H):
        rows = a[h][live[h]]
        p = pos[live[h]]
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(rows > 0, rows * np.log(rows), 0).sum(-1)
        out[h, 0] = ent.mean()
        out[h, 3] = rows.max(-1).mean()
        out[h, 4] = rows[:, 0].mean()
        if special is not None:
            out[h, 5] = rows[:, special.astype(bool)].sum(-1).mean()
        if grid is not None:
            f, cols, sh, sw = grid["first_patch"], grid["cols"], grid["stride_h"], grid["stride_w"]
            n = Tk - f
            r, c = np.arange(n) // cols * sh, np.arange(n) % cols * sw
            d = np.sqrt((r[:, None] - r[None, :]) ** 2 + (c[:, None] - c[None, :]) ** 2)
            q = np.arange(Tq)[live[h]] >= f
            out[h, 2] = (a[h][live[h]][q][:, f:] * d[(np.arange(Tq)[live[h]][q] - f)]).sum(-1).mean()
        if aligned:
            out[h, 1] = (rows * np.abs(p[:, None] - np.arange(Tk)[None, :])).sum(-1).mean()
            ok = p - 1 >= 0
            out[h, 6] = rows[ok, p[ok] - 1].mean()
            ok = p + 1 < Tk
            out[h, 7] = rows[ok, p[ok] + 1].mean() if ok.any() else np.nan
        elif len(rows) > 1:
            arg = rows.argmax(-1)  # the first of equal maxima
            out[h, 8] = (arg[1:] >= arg[:-1]).mean()
    return out


def sdpa_ref(q, k, v, heads, causal, kpm):
    """(B, T, E) -> heads (B, H, T, hs); the formula of F.scaled_dot_product_attention."""
    B, Tq, E = q.shape
    Tk = k.shape[1]
    hs = E // heads
    split = lambda x: x.view(B, -1, heads, hs).transpose(1, 2)
    qh, kh, vh = split(q), split(k), split(v)
    s = qh @ kh.transpose(-1, -2) / np.sqrt(hs)
    mask = torch.zeros(B, 1, Tq, Tk, dtype=torch.bool)
    if causal:
        mask |= (torch.arange(Tk)[None, :] > torch.arange(Tq)[:, None] + (Tk - Tq))[None, None]
    if kpm is not None:
        mask |= kpm.bool()[:, None, None, :]
    w = torch.softmax(s.masked_fill(mask, float("-inf")), -1)
    out = (w @ vh).transpose(1, 2).reshape(B, Tq, E)
    return out, w


def main():
    f = h5py.File(OUT, "w")
    f.attrs["qkv_format"] = "test_reference"
    f.attrs["qkv_format_version"] = 1
    f.attrs["generator"] = "scripts/ref/make_attend_refs.py, torch %s, networkx %s" % (torch.__version__,
                                                                                       nx.__version__)

    for name, L, H, T, causal, fusion, discard in [("rollout_mean", 3, 4, 7, False, "mean", 0.0),
                                                   ("rollout_causal_max", 4, 3, 6, True, "max", 0.0),
                                                   ("rollout_min_discard", 2, 5, 9, False, "min", 0.3),
                                                   ("rollout_mean_discard", 3, 2, 5, True, "mean", 0.5)]:
        att = softmax_att((L, H, T, T), causal)
        g = f.create_group(name)
        g.attrs["fusion"], g.attrs["discard_ratio"] = fusion, discard
        g["att"], g["rollout"] = att, rollout(att, fusion, discard).astype(np.float32)

    for name, L, H, T, causal in [("flow_small", 2, 2, 4, False), ("flow_causal", 3, 3, 6, True)]:
        att = softmax_att((L, H, T, T), causal)
        g = f.create_group(name)
        g["att"], g["flow"] = att, flow(att).astype(np.float32)

    # self (aligned, causal, padded key), cross (not aligned), vit grid ([CLS] + 2 x 3 patches, stride 4)
    pad = np.array([0, 0, 0, 0, 0, 0, 1, 0], bool)
    special = np.array([1, 0, 0, 1, 0, 0, 0, 0], np.uint8)
    cases = [("stats_self", softmax_att((3, 8, 8), True, pad), True, special, None),
             ("stats_cross", softmax_att((2, 5, 7)), False, None, None),
             ("stats_vit", softmax_att((4, 7, 7), temp=2.5), True, None,
              dict(first_patch=1, rows=2, cols=3, patch_h=8, patch_w=8, stride_h=4, stride_w=4))]
    for name, att, aligned, sp, grid in cases:
        g = f.create_group(name)
        g["att"] = att
        g.attrs["aligned"] = int(aligned)
        if sp is not None:
            g["special"] = sp
        for k, v in (grid or {}).items():
            g.attrs["grid_" + k] = v
        g["stats"] = head_stats(att, aligned, sp, grid).astype(np.float32)

    f32 = lambda *s: torch.randn(*s).float().double()
    # plain sdpa: self (same tensor), causal + padding, cross with odd sizes
    x = f32(2, 5, 12)
    kpm = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.uint8)
    for name, q, k, v, H, causal, m in [("sdpa_self_causal_pad", x, x, x, 3, True, kpm),
                                        ("sdpa_cross", f32(2, 3, 10), f32(2, 7, 10), f32(2, 7, 10), 2, False, None),
                                        ("sdpa_cross_causal", f32(1, 3, 4), f32(1, 6, 4), f32(1, 6, 4), 1, True,
                                         None)]:
        out, w = sdpa_ref(q, k, v, H, causal, m)
        g = f.create_group(name)
        g.attrs["n_head"], g.attrs["causal"] = H, int(causal)
        g["q"], g["k"], g["v"], g["out"], g["weights"] = q.float(), k.float(), v.float(), out.float(), w.float()
        if m is not None:
            g["key_padding_mask"] = m.numpy()
    # --proj: nn.MultiheadAttention with distinct key and value tensors
    E, H = 12, 4
    mha = torch.nn.MultiheadAttention(E, H, batch_first=True).double()
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn_like(p).float().double() * 0.3)
    q, k, v = f32(2, 4, E), f32(2, 6, E), f32(2, 6, E)
    kpm = torch.tensor([[0, 0, 0, 0, 0, 1], [0, 1, 0, 0, 0, 0]], dtype=torch.bool)
    out, w = mha(q, k, v, key_padding_mask=kpm, need_weights=True, average_attn_weights=False)
    g = f.create_group("sdpa_mha_cross_pad")
    g.attrs["n_head"], g.attrs["causal"] = H, 0
    g["q"], g["k"], g["v"] = q.float(), k.float(), v.float()
    g["out"], g["weights"] = out.detach().float(), w.detach().float()
    g["key_padding_mask"] = kpm.numpy().astype(np.uint8)
    for n, p in mha.state_dict().items():
        g["param/" + n] = p.float().numpy()
    f.close()


if __name__ == "__main__":
    main()
