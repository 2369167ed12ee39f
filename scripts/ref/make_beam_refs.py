"""Writes tests/ref/beam_{transformer,gpt,rnn}.h5: random tiny qkv checkpoints made by the PyTorch
twins (scripts/torch/qkv_models.py) plus /ref with a few requests and the n-best of beam search
for beam K in {1, 2, 4, 5, 8} and length penalty alpha in {0, 0.6, 1}, by the definition of
docs/DECODING.md ("Beam search"), written here independently of qkv: every step recomputes the
full forward over each beam's tokens (no cache), so it also checks qkv's incremental decoders.

    /usr/bin/python3 scripts/ref/make_beam_refs.py tests/ref

/ref layout: sources (flat int32) + source_offsets (int64), contexts + context_offsets, attrs eos,
max_len; per case ref/k{K}_a{alpha*10}: ids (flat) + offsets (K hypotheses per request, best
first), scores and normalized_scores (float64).
"""
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch"))
import qkv_models as Q  # noqa: E402

BEAMS = [1, 2, 4, 5, 8]
ALPHAS = [0.0, 0.6, 1.0]
MAX_LEN = 7
EOS = 2
BOS = 1
SCALE = {"transformer": 0.3, "gpt": 0.5, "rnn": 0.5}
EOS_BOOST = {"transformer": 1.5, "gpt": 1.0, "rnn": 0.25}

MODELS = {
    "transformer": dict(src_vocab_size=13, tgt_vocab_size=11, d_model=18, n_head=3, n_encoder_layers=2,
                        n_decoder_layers=2, d_ff=22, dropout=0.0, max_len=24, norm="post", activation="relu",
                        pad_id=0),
    "gpt": dict(vocab_size=11, block_size=16, n_layer=2, n_head=3, d_model=18, d_ff=22, pos="learned",
                norm="pre", activation="gelu"),
    "rnn": dict(src_vocab_size=13, tgt_vocab_size=11, pad_id=0, cell="gru", n_layer=2, d_emb=6, d_hidden=10,
                d_attn=7, bidirectional=1, dropout=0.0),
}


def requests(arch, g):
    """4 requests: (source, context). seq2seq: random sources (1..6 tokens, no pad), context [BOS];
    gpt: no source, random prompts of 1..4 tokens."""
    out = []
    for _ in range(4):
        if arch == "gpt":
            n = int(torch.randint(1, 5, (1,), generator=g))
            out.append(([], torch.randint(3, 11, (n,), generator=g).tolist()))
        else:
            n = int(torch.randint(1, 7, (1,), generator=g))
            out.append((torch.randint(1, 13, (n,), generator=g).tolist(), [BOS]))
    return out


def logprobs_fn(arch, model, source):
    """f(list of token lists, all the same length) -> (n, V) float32 log-softmax at the last position."""
    def f(seqs):
        tgt = torch.tensor(seqs, dtype=torch.long)
        with torch.no_grad():
            if arch == "gpt":
                logits = model(tgt)
            else:
                src = torch.tensor([source] * len(seqs), dtype=torch.long)
                logits = model(src, tgt)
        return torch.log_softmax(logits[:, -1].float(), dim=-1)
    return f


def beam_search(f, context, K, alpha, max_len, eos):
    """docs/DECODING.md: fairseq's semantics. Returns [(ids, score, normalized)] best first."""
    beams = [(list(context), 0.0, 0)]  # tokens, score, generated count
    finished = []
    for t in range(max_len + 1):
        live = beams[:1] if t == 0 else beams  # step 0 expands beam 0 only
        lp = f([b[0] for b in live]).double()  # (n, V)
        V = lp.shape[1]
        if t >= max_len:  # only EOS at max length
            keep = lp[:, eos].clone()
            lp[:] = -float("inf")
            lp[:, eos] = keep
        cand = torch.tensor([b[1] for b in live], dtype=torch.float64)[:, None] + lp  # (n, V)
        flat = cand.reshape(-1)
        # score descending, then flat index ascending: a stable sort of the flat order
        order = torch.sort(flat, descending=True, stable=True).indices[: min(2 * K, flat.numel())].tolist()
        for j in order[:K]:
            k, v = divmod(j, V)
            if v == eos and np.isfinite(flat[j].item()) and len(finished) < K:
                toks = live[k][0][len(context):]
                L = len(toks) + 1
                finished.append((toks, flat[j].item(), flat[j].item() / L ** alpha))
        if len(finished) >= K or t >= max_len:
            break
        nxt = []
        for j in order:
            k, v = divmod(j, V)
            if v == eos:
                continue
            nxt.append((live[k][0] + [v], flat[j].item(), t + 1))
            if len(nxt) == K:
                break
        beams = nxt
    return sorted(finished, key=lambda h: h[2], reverse=True)  # Python's sort is stable


def main(out_dir):
    for arch, hp in MODELS.items():
        torch.manual_seed(7)
        model = Q.build(arch, **hp)
        with torch.no_grad():  # every parameter random and O(1): peaked distributions, EOS at varied lengths
            for n, p in model.named_parameters():
                p.copy_(torch.randn(p.shape) * SCALE[arch])
            # EOS a little more likely than the rest, so hypotheses end at every length up to MAX_LEN
            if arch == "gpt":  # the output layer is the tied embedding: raise ln_f's bias along wte[EOS]
                e = model.transformer.wte.weight[EOS]
                model.transformer.ln_f.bias.add_(EOS_BOOST[arch] * e / e.dot(e))
            else:
                (model.generator if arch == "transformer" else model.out).bias[EOS] += EOS_BOOST[arch]
        model.eval()
        g = torch.Generator().manual_seed(11)
        reqs = requests(arch, g)
        cases = {}
        for K in BEAMS:
            for alpha in ALPHAS:
                res = [beam_search(logprobs_fn(arch, model, src), ctx, K, alpha, MAX_LEN, EOS) for src, ctx in reqs]
                cases[f"k{K}_a{int(round(alpha * 10))}"] = (K, alpha, res)

        def extra(f):
            r = f.create_group("ref")
            r.attrs["eos"] = np.int64(EOS)
            r.attrs["max_len"] = np.int64(MAX_LEN)
            for name, idx in (("sources", 0), ("contexts", 1)):
                seqs = [q[idx] for q in reqs]
                r.create_dataset(name, data=np.array([t for s in seqs for t in s], dtype=np.int32))
                r.create_dataset(name[:-1] + "_offsets", data=np.cumsum([0] + [len(s) for s in seqs]).astype(np.int64))
            for name, (K, alpha, res) in cases.items():
                c = r.create_group(name)
                c.attrs["beam"] = np.int64(K)
                c.attrs["length_penalty"] = np.float64(alpha)
                hyps = [h for n_best in res for h in n_best]
                c.create_dataset("ids", data=np.array([t for h in hyps for t in h[0]], dtype=np.int32))
                c.create_dataset("offsets", data=np.cumsum([0] + [len(h[0]) for h in hyps]).astype(np.int64))
                c.create_dataset("counts", data=np.array([len(n) for n in res], dtype=np.int64))
                c.create_dataset("scores", data=np.array([h[1] for h in hyps], dtype=np.float64))
                c.create_dataset("normalized_scores", data=np.array([h[2] for h in hyps], dtype=np.float64))

        path = os.path.join(out_dir, f"beam_{arch}.h5")
        Q.save_qkv(path, arch, model, extra)
        lens = np.bincount([len(h[0]) for _, _, res in cases.values() for n in res for h in n]).tolist()
        print(f"{path}: {len(cases)} cases, hypotheses per length {lens}, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/ref")
