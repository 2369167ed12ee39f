"""PyTorch twins of qkv's RNN pieces (libcore/nn/rnn.h, additive_attention.h, rnn_seq2seq.h).

Used by scripts/ref/make_rnn_refs.py to make tests/ref/rnn.h5; also a readable specification of
what qkv computes. Run with Debian's python3 (/usr/bin/python3, torch 1.13).
"""
import torch
import torch.nn as nn


class AdditiveAttention(nn.Module):
    """score[b,q,s] = v . tanh(W_q query[b,q] + W_k keys[b,s] + b_k); keys are also the values."""

    def __init__(self, query_dim, key_dim, attn_dim):
        super().__init__()
        self.w_q = nn.Linear(query_dim, attn_dim, bias=False)
        self.w_k = nn.Linear(key_dim, attn_dim)
        self.v = nn.Parameter(torch.empty(attn_dim))
        nn.init.uniform_(self.v, -attn_dim ** -0.5, attn_dim ** -0.5)

    def forward(self, query, keys, key_mask, kp=None):
        # query (B, Tq, Dq), keys (B, S, Dk), key_mask (B, S) bool (True = real key)
        if kp is None:
            kp = self.w_k(keys)                                        # (B, S, A)
        e = torch.tanh(self.w_q(query)[:, :, None, :] + kp[:, None, :, :]) @ self.v  # (B, Tq, S)
        e = e.masked_fill(~key_mask[:, None, :], float("-inf"))
        w = torch.softmax(e, dim=-1)
        w = torch.nan_to_num(w, nan=0.0)  # a row with no real key: zero weights
        return w @ keys, w                                             # (B, Tq, Dk), (B, Tq, S)


def run_rnn(rnn, x, lengths, h0=None, c0=None):
    """nn.GRU / nn.LSTM (batch_first) over right-padded x with qkv's padding semantics."""
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    if isinstance(rnn, nn.LSTM):
        hc = None if h0 is None else (h0, c0)
        out, (h_n, c_n) = rnn(packed, hc)
    else:
        out, h_n = rnn(packed, h0)
        c_n = None
    y, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return y, h_n, c_n


class RnnSeq2Seq(nn.Module):
    """qkv's "rnn" architecture (libcore/nn/rnn_seq2seq.h): same hyperparameter names, parameter
    names and shapes, same arithmetic.

    Encoder: dropout(src_emb) -> n_layer (bi)GRU/LSTM over the non-pad tokens (right padding),
             each direction d_hidden / D wide, dropout between layers.
    Bridge:  decoder layer l starts at tanh(bridge([final fwd; final rev] of encoder layer l)); LSTM c = 0.
    Decoder: ctx_t = attn(s^top_{t-1}, M); s^0_t = cell_0([dropout(tgt_emb[tgt_in_t]); ctx_t], s^0_{t-1});
             s^l_t = cell_l(dropout(s^{l-1}_t), s^l_{t-1}); logits_t = out(dropout([s^top_t; ctx_t]))
             (tie_weights: out(out_proj(...)) with out.weight = tgt_emb.weight).
    """

    def __init__(self, src_vocab_size=1000, tgt_vocab_size=1000, pad_id=0, cell="gru", n_layer=1, d_emb=128,
                 d_hidden=256, d_attn=None, bidirectional=True, dropout=0.1, tie_weights=False,
                 label_smoothing=0.0):
        super().__init__()
        bidirectional, tie_weights = bool(bidirectional), bool(tie_weights)  # checkpoints store 0/1
        self.pad_id, self.cell, self.label_smoothing = pad_id, cell, label_smoothing
        self.dirs = 2 if bidirectional else 1
        E = d_hidden
        self.src_emb = nn.Embedding(src_vocab_size, d_emb)
        self.tgt_emb = nn.Embedding(tgt_vocab_size, d_emb)
        rnn_cls = nn.GRU if cell == "gru" else nn.LSTM
        self.encoder = rnn_cls(d_emb, d_hidden // self.dirs, num_layers=n_layer, bidirectional=bidirectional,
                               batch_first=True, dropout=dropout if n_layer > 1 else 0.0)
        self.bridge = nn.Linear(E, d_hidden)
        self.attn = AdditiveAttention(d_hidden, E, d_attn or d_hidden)
        cell_cls = nn.GRUCell if cell == "gru" else nn.LSTMCell
        self.decoder = nn.Module()
        self.decoder.layers = nn.ModuleList(
            [cell_cls(d_emb + E if l == 0 else d_hidden, d_hidden) for l in range(n_layer)])
        if tie_weights:
            self.out_proj = nn.Linear(d_hidden + E, d_emb)
            self.out = nn.Linear(d_emb, tgt_vocab_size)
            self.out.weight = self.tgt_emb.weight
        else:
            self.out_proj = None
            self.out = nn.Linear(d_hidden + E, tgt_vocab_size)
        self.drop = nn.Dropout(dropout)

    def encode(self, src):
        mask = src != self.pad_id                                      # (B, S)
        x = self.drop(self.src_emb(src))                               # (B, S, emb)
        mem, h_n, _ = run_rnn(self.encoder, x, mask.sum(1))            # (B, S, E), (L*D, B, He)
        L = h_n.shape[0] // self.dirs
        states = []
        for l in range(L):
            top = torch.cat([h_n[l * self.dirs + d] for d in range(self.dirs)], dim=-1)  # (B, E)
            s = torch.tanh(self.bridge(top))                           # (B, Hd)
            states.append((s, torch.zeros_like(s)) if self.cell == "lstm" else s)
        return mem, mask, states

    def step(self, mem, mask, kp, states, ids):
        top = states[-1][0] if self.cell == "lstm" else states[-1]
        ctx, w = self.attn(top[:, None, :], mem, mask, kp)             # (B, 1, E), (B, 1, S)
        ctx = ctx[:, 0]
        x = torch.cat([self.drop(self.tgt_emb(ids)), ctx], dim=-1)     # (B, emb + E)
        new = []
        for l, cell in enumerate(self.decoder.layers):
            if l > 0:
                x = self.drop(h)
            st = cell(x, states[l])
            h = st[0] if self.cell == "lstm" else st
            new.append(st)
        return new, torch.cat([h, ctx], dim=-1), w[:, 0]

    def logits(self, feats):
        f = self.drop(feats)
        return self.out(self.out_proj(f) if self.out_proj is not None else f)

    def forward(self, src, tgt_in):
        mem, mask, states = self.encode(src)
        kp = self.attn.w_k(mem)
        feats, weights = [], []
        for t in range(tgt_in.shape[1]):
            states, f, w = self.step(mem, mask, kp, states, tgt_in[:, t])
            feats.append(f)
            weights.append(w)
        return self.logits(torch.stack(feats, 1)), torch.stack(weights, 1)  # (B, T, V), (B, T, S)

    def loss(self, src, tgt_in, tgt_out):
        logits, _ = self(src, tgt_in)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                                           ignore_index=self.pad_id, label_smoothing=self.label_smoothing)

    @torch.no_grad()
    def greedy_decode(self, src, max_len, bos, eos):
        mem, mask, states = self.encode(src)
        kp = self.attn.w_k(mem)
        ids = torch.full((src.shape[0],), bos, dtype=torch.int64)
        out, done = [[] for _ in range(src.shape[0])], [False] * src.shape[0]
        for _ in range(max_len):
            states, f, _ = self.step(mem, mask, kp, states, ids)
            ids = self.logits(f).argmax(-1)
            for b, tok in enumerate(ids.tolist()):
                if not done[b]:
                    if tok == eos:
                        done[b] = True
                    else:
                        out[b].append(tok)
            if all(done):
                break
        return out
