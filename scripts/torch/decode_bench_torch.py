"""A PyTorch decoding loop with its own KV cache over the twin of a qkv gpt or transformer
checkpoint: the figures bench/decode_bench.cpp prints, timed the same way
(scripts/bench/54-decode.sh). A transformer: greedy and beam words/s over random sources, the
encoder run once, each decoder layer's cross-attention keys/values projected once.

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 scripts/torch/decode_bench_torch.py gpt.h5 --threads 1

The cache holds each layer's keys and values (B, H, T_max, hs); a step feeds one token per row at
position t and attends over keys [0, t]. Greedy takes the arg max; beam search keeps K rows,
scores (K, V) + beam scores, takes the top 2K of K x V and continues with the first K that are
not EOS (EOS is barred until the length, as in decode_bench), reordering the caches with
index_select. Under torch.inference_mode.
"""
import argparse
import math
import os
import sys
import time
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qkv_models as Q  # noqa: E402


class Cached:
    """Incremental decoding of Q.GPT (pre- or post-norm, learned or sinusoidal positions)."""

    def __init__(self, m, B, T):
        self.m, self.c = m, m.c
        d, h = self.c["d_model"], self.c["n_head"]
        L = self.c["n_layer"]
        self.h, self.hs = h, d // h
        self.k = [torch.zeros(B, h, T, d // h) for _ in range(L)]
        self.v = [torch.zeros(B, h, T, d // h) for _ in range(L)]
        self.t = 0

    def step(self, ids):  # ids (B,) -> logits (B, V)
        m, c, t = self.m, self.c, self.t
        B = ids.shape[0]
        x = m.transformer.wte(ids)  # (B, C)
        x = x + (m.transformer.wpe.weight[t] if c["pos"] == "learned" else m.pe[t])
        for l, blk in enumerate(m.transformer.h):
            a = blk.ln_1(x) if blk.pre else x
            q, k, v = blk.attn.c_attn(a).split(c["d_model"], dim=1)
            q = q.view(B, self.h, 1, self.hs)
            self.k[l][:, :, t] = k.view(B, self.h, self.hs)
            self.v[l][:, :, t] = v.view(B, self.h, self.hs)
            K, V = self.k[l][:, :, :t + 1], self.v[l][:, :, :t + 1]  # (B, h, t+1, hs)
            att = F.softmax((q @ K.transpose(-2, -1)) * (1.0 / math.sqrt(self.hs)), dim=-1)
            y = blk.attn.c_proj((att @ V).reshape(B, c["d_model"]))
            if blk.pre:
                x = x + y
                x = x + blk.mlp(blk.ln_2(x))
            else:
                x = blk.ln_1(x + y)
                x = blk.ln_2(x + blk.mlp(x))
        if "ln_f" in m.transformer:
            x = m.transformer.ln_f(x)
        self.t += 1
        return m.lm_head(x)

    def reorder(self, rows):  # row i := old row rows[i]; only the filled positions are copied
        def gather(c):
            out = c.new_empty((rows.shape[0],) + tuple(c.shape[1:]))
            out[:, :, :self.t] = c[:, :, :self.t].index_select(0, rows)
            return out
        self.k = [gather(k) for k in self.k]
        self.v = [gather(v) for v in self.v]


def _mha_in(att, x, which):  # rows of nn.MultiheadAttention's in_proj: 0 = q, 1 = k, 2 = v, slice(1, 3) = k|v
    d = att.embed_dim
    w, b = att.in_proj_weight, att.in_proj_bias
    lo, hi = (which * d, (which + 1) * d) if isinstance(which, int) else (which.start * d, which.stop * d)
    return F.linear(x, w[lo:hi], None if b is None else b[lo:hi])


class Seq2SeqCached:
    """Incremental decoding of Q.Seq2SeqTransformer: the encoder runs once, each decoder layer's
    cross-attention keys/values of the memory are projected once, self-attention keeps a KV cache."""

    def __init__(self, m, src, T):
        self.m, self.c = m, m.c
        d, h = self.c["d_model"], self.c["n_head"]
        self.h, self.hs, self.d = h, d // h, d
        memory, pad = m.encode(src)  # (B, S, d), (B, S)
        B, S = src.shape
        self.bias = torch.zeros(B, 1, 1, S).masked_fill(pad[:, None, None, :], float("-inf"))
        self.mem = []  # per layer: k, v (B, h, S, hs)
        for layer in m.transformer.decoder.layers:
            k, v = _mha_in(layer.multihead_attn, memory, slice(1, 3)).split(d, dim=2)
            self.mem.append((k.view(B, S, h, self.hs).transpose(1, 2), v.view(B, S, h, self.hs).transpose(1, 2)))
        L = len(m.transformer.decoder.layers)
        self.k = [torch.zeros(B, h, T, self.hs) for _ in range(L)]
        self.v = [torch.zeros(B, h, T, self.hs) for _ in range(L)]
        self.rows = torch.arange(B)  # memory row of each state row
        self.t = 0

    def _attend(self, att, q, K, V, bias=None):  # q (B, d) -> (B, d)
        B = q.shape[0]
        q = q.view(B, self.h, 1, self.hs)
        s = (q @ K.transpose(-2, -1)) * (1.0 / math.sqrt(self.hs))
        if bias is not None:
            s = s + bias
        return att.out_proj((F.softmax(s, dim=-1) @ V).reshape(B, self.d))

    def step(self, ids):  # ids (B,) -> logits (B, V)
        m, t, B = self.m, self.t, ids.shape[0]
        x = m._tgt_embed()(ids) * math.sqrt(self.d) + m.pe[t]
        for l, layer in enumerate(m.transformer.decoder.layers):
            def sa(y):
                q, k, v = _mha_in(layer.self_attn, y, slice(0, 3)).split(self.d, dim=1)
                self.k[l][:, :, t] = k.view(B, self.h, self.hs)
                self.v[l][:, :, t] = v.view(B, self.h, self.hs)
                return self._attend(layer.self_attn, q, self.k[l][:, :, :t + 1], self.v[l][:, :, :t + 1])

            def ca(y):
                mk, mv = self.mem[l]
                return self._attend(layer.multihead_attn, _mha_in(layer.multihead_attn, y, 0), mk[self.rows],
                                    mv[self.rows], self.bias[self.rows])

            def ff(y):
                return layer.linear2(layer.activation(layer.linear1(y)))
            if layer.norm_first:
                x = x + sa(layer.norm1(x))
                x = x + ca(layer.norm2(x))
                x = x + ff(layer.norm3(x))
            else:
                x = layer.norm1(x + sa(x))
                x = layer.norm2(x + ca(x))
                x = layer.norm3(x + ff(x))
        if m.transformer.decoder.norm is not None:
            x = m.transformer.decoder.norm(x)
        self.t += 1
        return m.generator(x)

    def reorder(self, rows):
        Cached.reorder(self, rows)
        self.rows = self.rows.index_select(0, rows)


def seq2seq_search(m, src, length, K, bos=1, eos=2):
    """Greedy (K = 1) or beam search over a batch of sources, every hypothesis exactly `length` tokens."""
    B = src.shape[0]
    st = Seq2SeqCached(m, src, 1 + length)
    if K > 1:
        st.reorder(torch.arange(B).repeat_interleave(K))
    ids = torch.full((B * K,), bos)
    scores = torch.zeros(B, K)
    scores[:, 1:] = -math.inf  # step 0 expands beam 0 only
    for g in range(length):
        lp = F.log_softmax(st.step(ids), dim=-1)  # (B*K, V)
        lp[:, eos] = -math.inf
        if K == 1:
            ids = lp.argmax(dim=-1)
            continue
        V = lp.shape[1]
        cand = (scores[:, :, None] + lp.view(B, K, V)).view(B, K * V)
        top_s, top_i = cand.topk(2 * K, dim=1)
        scores, keep = top_s[:, :K], top_i[:, :K]  # EOS is barred: the first K are not EOS
        rows = (torch.arange(B)[:, None] * K + keep // V).view(-1)
        ids = (keep % V).view(-1)
        st.reorder(rows)
    return ids


def greedy(m, prompts, new, eos=2):
    st = Cached(m, len(prompts), 1 + new)
    ids = torch.tensor(prompts)
    out = []
    for g in range(new):
        lp = F.log_softmax(st.step(ids), dim=-1)
        lp[:, eos] = -math.inf
        ids = lp.argmax(dim=-1)
        out.append(ids)
    return torch.stack(out, 1)


def beam(m, prompt, new, K, eos=2):
    st = Cached(m, 1, 1 + new)
    ids = torch.tensor([prompt])
    scores = torch.zeros(1)
    tokens = torch.zeros(1, 0, dtype=torch.long)
    for g in range(new):
        lp = F.log_softmax(st.step(ids), dim=-1)  # (k, V)
        lp[:, eos] = -math.inf
        V = lp.shape[1]
        cand = (scores[:, None] + lp).view(-1)
        top_s, top_i = cand.topk(2 * K)
        keep = top_i[:K]  # EOS is barred: the first K are not EOS
        rows, ids = keep // V, keep % V
        scores = top_s[:K]
        tokens = torch.cat([tokens.index_select(0, rows), ids[:, None]], 1)
        st.reorder(rows)
    return tokens[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--new", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--words", type=int, default=512)
    ap.add_argument("--len", type=int, default=8)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore")  # nn.TransformerEncoder's nested-tensor prototype notice
    arch, m = Q.load_qkv(a.model)
    if arch not in ("gpt", "transformer"):
        raise SystemExit(f"{a.model}: a {arch} checkpoint; this loop decodes gpt and transformer")
    m.eval()
    if arch == "transformer":  # words/s, as bench/decode_bench.cpp: the same random sources
        print(f"torch {torch.__version__} transformer: {a.model}, threads={a.threads}, "
              f"core={os.environ.get('OPENBLAS_CORETYPE', '')}")
        g = torch.Generator().manual_seed(1)
        Vs = m.c["src_vocab_size"]
        with torch.inference_mode():
            for K in (1, a.beam):
                t0 = time.perf_counter()
                for s0 in range(0, a.words, a.batch):
                    n = min(a.batch, a.words - s0)
                    lens = torch.randint(6, 11, (n,), generator=g)
                    src = torch.zeros(n, int(lens.max()) + 2, dtype=torch.long)  # <bos> x <eos>, 0-padded
                    for i in range(n):
                        src[i, 0] = 1
                        src[i, 1:lens[i] + 1] = torch.randint(4, Vs, (int(lens[i]),), generator=g)
                        src[i, lens[i] + 1] = 2
                    seq2seq_search(m, src, a.len, K)
                name = "greedy" if K == 1 else f"beam{K}"
                print(f"{name} words/s {a.words / (time.perf_counter() - t0):{15 if K == 1 else 16}.1f}")
        return
    V = m.c["vocab_size"]
    print(f"torch {torch.__version__} gpt: {a.model}, threads={a.threads}, "
          f"core={os.environ.get('OPENBLAS_CORETYPE', '')}")
    g = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        for p in (16, 256):
            best = 1e9
            for _ in range(3):
                st = Cached(m, 1, p + 32)
                for _ in range(p):
                    st.step(torch.tensor([3]))
                ids = torch.randint(3, V, (32, 1), generator=g)
                t0 = time.perf_counter()
                for i in range(32):
                    st.step(ids[i])
                best = min(best, (time.perf_counter() - t0) / 32)
            print(f"step ms at position {p:<4d} {1e3 * best:9.3f}")
        t0 = time.perf_counter()
        ids = greedy(m, [3], a.new)[0]
        print(f"greedy b1 tokens/s {a.new / (time.perf_counter() - t0):12.1f}")
        print("greedy ids " + " ".join(str(int(i)) for i in ids[:24]))
        t0 = time.perf_counter()
        beam(m, 3, a.new, a.beam)
        print(f"beam{a.beam} tokens/s {a.new / (time.perf_counter() - t0):14.1f}")
        t0 = time.perf_counter()
        greedy(m, [3 + i % (V - 3) for i in range(a.batch)], a.new)
        print(f"greedy b{a.batch} tokens/s {a.batch * a.new / (time.perf_counter() - t0):11.1f}")


if __name__ == "__main__":
    main()
