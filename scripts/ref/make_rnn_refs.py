#!/usr/bin/python3
"""Reference values for tests/nn_rnn_test.cpp: PyTorch nn.GRU / nn.LSTM (packed, padded),
additive attention, forward values and every gradient, computed in float64 from float32 inputs.

    /usr/bin/python3 scripts/ref/make_rnn_refs.py tests/ref/rnn.h5
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch"))
from rnn_seq2seq import AdditiveAttention, RnnSeq2Seq, run_rnn  # noqa: E402


def f32(t):
    return t.detach().to(torch.float32).numpy()


def rand(g, *shape, scale=1.0):
    # float32 values, used as float64 in torch so the reference carries no float32 rounding
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * scale).to(torch.float64)


def rnn_case(f, name, cell, B, T, I, H, layers, bidirectional, lengths, seed, with_h0=True):
    g = torch.Generator().manual_seed(seed)
    cls = nn.GRU if cell == "gru" else nn.LSTM
    rnn = cls(I, H, num_layers=layers, bidirectional=bidirectional, batch_first=True).double()
    with torch.no_grad():
        for p in rnn.parameters():
            p.copy_(rand(g, *p.shape, scale=0.4))
    D = 2 if bidirectional else 1
    x = rand(g, B, T, I).requires_grad_()
    h0 = rand(g, layers * D, B, H, scale=0.5).requires_grad_() if with_h0 else None
    c0 = rand(g, layers * D, B, H, scale=0.5).requires_grad_() if (with_h0 and cell == "lstm") else None
    lengths = torch.tensor(lengths, dtype=torch.int64)
    y, h_n, c_n = run_rnn(rnn, x, lengths, h0, c0)
    ry = rand(g, *y.shape)
    rh = rand(g, *h_n.shape)
    loss = (y * ry).sum() + (h_n * rh).sum()
    rc = None
    if c_n is not None:
        rc = rand(g, *c_n.shape)
        loss = loss + (c_n * rc).sum()
    loss.backward()

    grp = f.create_group(name)
    grp.attrs["cell"] = cell
    grp.attrs["batch"], grp.attrs["steps"], grp.attrs["input"], grp.attrs["hidden"] = B, T, I, H
    grp.attrs["layers"], grp.attrs["bidirectional"] = layers, int(bidirectional)
    grp["lengths"] = lengths.numpy().astype(np.int32)
    grp["x"] = f32(x)
    grp["dy"], grp["dh_n"] = f32(ry), f32(rh)
    grp["y"], grp["h_n"] = f32(y), f32(h_n)
    grp["dx"] = f32(x.grad)
    if with_h0:
        grp["h0"], grp["dh0"] = f32(h0), f32(h0.grad)
    if cell == "lstm":
        grp["dc_n"], grp["c_n"] = f32(rc), f32(c_n)
        if with_h0:
            grp["c0"], grp["dc0"] = f32(c0), f32(c0.grad)
    for pname, p in rnn.named_parameters():
        grp["params/" + pname] = f32(p)
        grp["grads/" + pname] = f32(p.grad)


def attention_case(f, name, B, Tq, S, Dq, Dk, A, key_lengths, seed):
    g = torch.Generator().manual_seed(seed)
    att = AdditiveAttention(Dq, Dk, A).double()
    with torch.no_grad():
        for p in att.parameters():
            p.copy_(rand(g, *p.shape, scale=0.5))
    q = rand(g, B, Tq, Dq).requires_grad_()
    k = rand(g, B, S, Dk).requires_grad_()
    mask = torch.arange(S)[None, :] < torch.tensor(key_lengths)[:, None]
    ctx, w = att(q, k, mask)
    rc = rand(g, *ctx.shape)
    (ctx * rc).sum().backward()
    grp = f.create_group(name)
    grp.attrs["batch"], grp.attrs["queries"], grp.attrs["keys"] = B, Tq, S
    grp.attrs["query_dim"], grp.attrs["key_dim"], grp.attrs["attn_dim"] = Dq, Dk, A
    grp["key_lengths"] = np.array(key_lengths, dtype=np.int32)
    grp["query"], grp["keys_in"], grp["dctx"] = f32(q), f32(k), f32(rc)
    grp["ctx"], grp["weights"] = f32(ctx), f32(w)
    grp["dquery"], grp["dkeys"] = f32(q.grad), f32(k.grad)
    for pname, p in att.named_parameters():
        grp["params/" + pname] = f32(p)
        grp["grads/" + pname] = f32(p.grad)


def model_case(f, name, cfg, src, tgt_in, tgt_out, seed, lr=1e-2, weight_decay=0.1, steps=10):
    """Initial parameters, loss, every gradient after one batch, and the losses of `steps` AdamW
    updates (weight decay on parameters of rank >= 2, as qkv's ParamStore default)."""
    torch.manual_seed(seed)
    m = RnnSeq2Seq(**cfg)  # PyTorch's own initialization, in float32 ...
    m = m.double()         # ... then exact float64 arithmetic
    src, tgt_in, tgt_out = (torch.tensor(a, dtype=torch.int64) for a in (src, tgt_in, tgt_out))
    grp = f.create_group(name)
    for k, v in cfg.items():
        grp.attrs["config_" + k] = int(v) if isinstance(v, bool) else v
    grp["src"], grp["tgt_in"], grp["tgt_out"] = (a.numpy().astype(np.int32) for a in (src, tgt_in, tgt_out))
    for pname, p in m.named_parameters():
        grp["params/" + pname] = f32(p)
    loss = m.loss(src, tgt_in, tgt_out)
    loss.backward()
    grp["loss"] = np.array([loss.item()], dtype=np.float64)
    for pname, p in m.named_parameters():
        grp["grads/" + pname] = f32(p.grad)
    _, w = m(src, tgt_in)
    grp["attention"] = f32(w)
    decay = [p for p in m.parameters() if p.dim() >= 2]
    no_decay = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = m.loss(src, tgt_in, tgt_out)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    grp["adamw_losses"] = np.array(losses, dtype=np.float64)
    grp.attrs["lr"], grp.attrs["weight_decay"] = lr, weight_decay


def seq2seq_batch():
    # right-padded (pad 0), bos 1, eos 2; tgt_out = tgt_in shifted left
    src = [[5, 7, 3, 9, 4, 6], [8, 3, 0, 0, 0, 0], [10, 4, 6, 7, 0, 0], [3, 0, 0, 0, 0, 0]]
    seqs = [[4, 5, 6, 7], [8], [9, 12, 3], [11, 10, 5, 4]]
    T = 5
    tgt_in = [[1] + s + [0] * (T - 1 - len(s)) for s in seqs]
    tgt_out = [s + [2] + [0] * (T - 1 - len(s)) for s in seqs]
    return src, tgt_in, tgt_out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/ref/rnn.h5"
    with h5py.File(out, "w") as f:
        f.attrs["qkv_format"] = "reference"
        f.attrs["qkv_format_version"] = np.int64(1)
        f.attrs["made_by"] = "scripts/ref/make_rnn_refs.py (torch %s)" % torch.__version__
        rnn_case(f, "gru_uni", "gru", 3, 6, 5, 7, 1, False, [6, 4, 1], seed=1)
        rnn_case(f, "gru_bi2", "gru", 4, 5, 3, 6, 2, True, [5, 2, 5, 3], seed=2)
        rnn_case(f, "gru_nostate", "gru", 2, 4, 3, 5, 1, True, [4, 4], seed=3, with_h0=False)
        rnn_case(f, "lstm_uni", "lstm", 3, 6, 5, 7, 1, False, [6, 4, 1], seed=4)
        rnn_case(f, "lstm_bi2", "lstm", 4, 5, 3, 6, 2, True, [5, 2, 5, 3], seed=5)
        attention_case(f, "attention", 3, 4, 5, 6, 7, 8, [5, 2, 3], seed=6)
        attention_case(f, "attention_full", 2, 3, 6, 5, 5, 9, [6, 6], seed=7)
        src, tgt_in, tgt_out = seq2seq_batch()
        base = dict(src_vocab_size=11, tgt_vocab_size=13, pad_id=0, d_emb=6, d_hidden=8, d_attn=9, dropout=0.0)
        model_case(f, "model_gru", dict(base, cell="gru", n_layer=2, bidirectional=True), src, tgt_in, tgt_out,
                   seed=8)
        model_case(f, "model_lstm", dict(base, cell="lstm", n_layer=1, bidirectional=False, label_smoothing=0.1),
                   src, tgt_in, tgt_out, seed=9)
        model_case(f, "model_tied", dict(base, cell="gru", n_layer=3, bidirectional=True, tie_weights=True), src,
                   tgt_in, tgt_out, seed=10)


if __name__ == "__main__":
    main()
