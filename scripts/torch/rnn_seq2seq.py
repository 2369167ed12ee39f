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
    """qkv's "rnn" architecture (libcore/nn/rnn_seq2seq.h), same parameter names and shapes.

    Encoder: dropout(src_emb) -> (bi)GRU/LSTM stack over the non-pad tokens (right padding).
    Bridge:  s_0 = tanh(bridge([top layer final state, forward; reverse])); LSTM c_0 = 0.
    Decoder: ctx_t = attn(s_{t-1}, M); s_t = cell([dropout(tgt_emb[tgt_in_t]); ctx_t], s_{t-1});
             logits_t = out(dropout([s_t; ctx_t])).
    """

    def __init__(self, src_vocab, tgt_vocab, pad_id=0, cell="gru", emb_dim=128, enc_hidden=128, enc_layers=1,
                 bidirectional=True, dec_hidden=256, attn_dim=None, dropout=0.1, label_smoothing=0.0):
        super().__init__()
        self.pad_id, self.cell, self.label_smoothing = pad_id, cell, label_smoothing
        self.dirs = 2 if bidirectional else 1
        E = enc_hidden * self.dirs
        self.src_emb = nn.Embedding(src_vocab, emb_dim)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb_dim)
        rnn_cls = nn.GRU if cell == "gru" else nn.LSTM
        self.encoder = rnn_cls(emb_dim, enc_hidden, num_layers=enc_layers, bidirectional=bidirectional,
                               batch_first=True)
        self.bridge = nn.Linear(E, dec_hidden)
        self.attn = AdditiveAttention(dec_hidden, E, attn_dim or dec_hidden)
        cell_cls = nn.GRUCell if cell == "gru" else nn.LSTMCell
        self.decoder = cell_cls(emb_dim + E, dec_hidden)
        self.out = nn.Linear(dec_hidden + E, tgt_vocab)
        self.drop = nn.Dropout(dropout)

    def encode(self, src):
        mask = src != self.pad_id                                      # (B, S)
        x = self.drop(self.src_emb(src))                               # (B, S, emb)
        mem, h_n, _ = run_rnn(self.encoder, x, mask.sum(1))            # (B, S, E), (L*D, B, He)
        top = torch.cat([h_n[h_n.shape[0] - self.dirs + d] for d in range(self.dirs)], dim=-1)  # (B, E)
        s = torch.tanh(self.bridge(top))                               # (B, Hd)
        c = torch.zeros_like(s) if self.cell == "lstm" else None
        return mem, mask, s, c

    def step(self, mem, mask, kp, s, c, ids):
        ctx, w = self.attn(s[:, None, :], mem, mask, kp)               # (B, 1, E), (B, 1, S)
        ctx = ctx[:, 0]
        x = torch.cat([self.drop(self.tgt_emb(ids)), ctx], dim=-1)     # (B, emb + E)
        if self.cell == "lstm":
            s, c = self.decoder(x, (s, c))
        else:
            s = self.decoder(x, s)
        return s, c, torch.cat([s, ctx], dim=-1), w[:, 0]

    def forward(self, src, tgt_in):
        mem, mask, s, c = self.encode(src)
        kp = self.attn.w_k(mem)
        feats, weights = [], []
        for t in range(tgt_in.shape[1]):
            s, c, f, w = self.step(mem, mask, kp, s, c, tgt_in[:, t])
            feats.append(f)
            weights.append(w)
        return self.out(self.drop(torch.stack(feats, 1))), torch.stack(weights, 1)  # (B, T, V), (B, T, S)

    def loss(self, src, tgt_in, tgt_out):
        logits, _ = self(src, tgt_in)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                                           ignore_index=self.pad_id, label_smoothing=self.label_smoothing)
