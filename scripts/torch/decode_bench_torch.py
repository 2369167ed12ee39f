"""A PyTorch decoding loop with its own KV cache over the twin of a qkv gpt or transformer
checkpoint: the figures bench/decode_bench.cpp prints, timed the same way (each figure the median
of --repeats runs, "wall W cpu C" from wall time and from the process's CPU time;
scripts/bench/54-decode.sh). A transformer: greedy and beam words/s over random sources or the
first --words sources of a token_pairs file (--sources), the encoder run once, each decoder
layer's cross-attention keys/values projected once.

    OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=1 /usr/bin/python3 scripts/torch/decode_bench_torch.py gpt.h5 --threads 1

(OMP_NUM_THREADS: torch.set_num_threads does not reach Debian's OpenBLAS, which would otherwise run the
larger matrix products on every core.)

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
    """Greedy (K = 1) or beam search over a batch of sources, every hypothesis exactly `length` tokens:
    (B, length), each source's best."""
    B = src.shape[0]
    st = Seq2SeqCached(m, src, 1 + length)
    if K > 1:
        st.reorder(torch.arange(B).repeat_interleave(K))
    ids = torch.full((B * K,), bos)
    tokens = torch.zeros(B * K, 0, dtype=torch.long)
    scores = torch.zeros(B, K)
    scores[:, 1:] = -math.inf  # step 0 expands beam 0 only
    for g in range(length):
        lp = F.log_softmax(st.step(ids), dim=-1)  # (B*K, V)
        lp[:, eos] = -math.inf
        if K == 1:
            ids = lp.argmax(dim=-1)
            tokens = torch.cat([tokens, ids[:, None]], 1)
            continue
        V = lp.shape[1]
        cand = (scores[:, :, None] + lp.view(B, K, V)).view(B, K * V)
        top_s, top_i = cand.topk(2 * K, dim=1)
        scores, keep = top_s[:, :K], top_i[:, :K]  # EOS is barred: the first K are not EOS
        rows = (torch.arange(B)[:, None] * K + keep // V).view(-1)
        ids = (keep % V).view(-1)
        tokens = torch.cat([tokens.index_select(0, rows), ids[:, None]], 1)
        st.reorder(rows)
    return tokens.view(B, K, -1)[:, 0]  # (B, length): each source's first beam (the highest score)


def median_of(repeats, fn):
    """(wall, cpu) seconds of fn(), each the median of `repeats` runs."""
    w, c = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        c.append(time.process_time() - c0)
        w.append(time.perf_counter() - w0)
    return sorted(w)[len(w) // 2], sorted(c)[len(c) // 2]


def print_rate(name, n, took):
    print(f"{name:<20s} wall {n / took[0]:10.1f} cpu {n / took[1]:10.1f}", flush=True)


def read_sources(path, n):
    """The first n sources of a token_pairs file (docs/FORMATS.md), as lists of ids."""
    import h5py
    with h5py.File(path, "r") as f:
        off, ids = f["src/offsets"][:n + 1], f["src/ids"]
        return [ids[off[i]:off[i + 1]].tolist() for i in range(len(off) - 1)]


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
    ap.add_argument("--sources", help="a token_pairs file: decode its first --words sources")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore")  # nn.TransformerEncoder's nested-tensor prototype notice
    arch, m = Q.load_qkv(a.model)
    if arch not in ("gpt", "transformer"):
        raise SystemExit(f"{a.model}: a {arch} checkpoint; this loop decodes gpt and transformer")
    m.eval()
    R = max(1, a.repeats)
    if arch == "transformer":  # words/s, as bench/decode_bench.cpp: the same sources
        print(f"torch {torch.__version__} transformer: {a.model}, threads={a.threads}, "
              f"core={os.environ.get('OPENBLAS_CORETYPE', '')}")
        if a.sources:
            srcs = read_sources(a.sources, a.words)
        else:  # random: 6-10 letters between <bos> and <eos>
            g = torch.Generator().manual_seed(1)
            Vs = m.c["src_vocab_size"]
            srcs = [[1] + torch.randint(4, Vs, (int(torch.randint(6, 11, (1,), generator=g)),), generator=g).tolist()
                    + [2] for _ in range(a.words)]
        n = len(srcs)
        print(f"{n} sources{' of ' + a.sources if a.sources else ' (random)'}, {a.len} tokens each, "
              f"batch {a.batch}, median of {R}")
        batches = []
        for s0 in range(0, n, a.batch):
            part = srcs[s0:s0 + a.batch]
            src = torch.zeros(len(part), max(len(x) for x in part), dtype=torch.long)  # 0-padded
            for i, x in enumerate(part):
                src[i, :len(x)] = torch.tensor(x)
            batches.append(src)
        with torch.inference_mode():
            for K in (1, a.beam):
                first = []
                def run():
                    for i, src in enumerate(batches):
                        hyps = seq2seq_search(m, src, a.len, K)
                        if i == 0:
                            first[:] = hyps[0].tolist()
                name = "greedy" if K == 1 else f"beam{K}"
                print_rate(f"{name} words/s", n, median_of(R, run))
                print(f"{name} ids " + " ".join(str(int(i)) for i in first))
        return
    V = m.c["vocab_size"]
    print(f"torch {torch.__version__} gpt: {a.model}, threads={a.threads}, "
          f"core={os.environ.get('OPENBLAS_CORETYPE', '')}, median of {R}")
    g = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        for p in (16, 256):
            took = []
            for _ in range(R):
                st = Cached(m, 1, p + 32)
                for _ in range(p):
                    st.step(torch.tensor([3]))
                ids = torch.randint(3, V, (32, 1), generator=g)
                took.append(median_of(1, lambda: [st.step(ids[i]) for i in range(32)]))
            w, c = sorted(t[0] for t in took)[R // 2], sorted(t[1] for t in took)[R // 2]
            print(f"step ms at position {p:<4d} wall {1e3 * w / 32:9.3f} cpu {1e3 * c / 32:9.3f}", flush=True)
        out = []
        print_rate("greedy b1 tokens/s", a.new, median_of(R, lambda: out.append(greedy(m, [3], a.new)[0])))
        print("greedy ids " + " ".join(str(int(i)) for i in out[0][:24]))
        print_rate(f"beam{a.beam} tokens/s", a.new, median_of(R, lambda: beam(m, 3, a.new, a.beam)))
        prompts = [3 + i % (V - 3) for i in range(a.batch)]
        print_rate(f"greedy b{a.batch} tokens/s", a.batch * a.new, median_of(R, lambda: greedy(m, prompts, a.new)))


if __name__ == "__main__":
    main()
