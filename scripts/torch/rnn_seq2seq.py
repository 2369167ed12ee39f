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
