// Additive (Bahdanau) attention over a memory of S keys per batch row:
//
//   score[b, q, s] = v · tanh(W_q query[b, q] + W_k keys[b, s] + b_k)     (masked keys: -inf)
//   weights[b, q, :] = softmax_s(score[b, q, :])                            (kept: visualisation)
//   ctx[b, q] = Σ_s weights[b, q, s] keys[b, s]                             (keys are the values)
//
// Parameters (PyTorch nn.Linear layout): w_q (A, Dq) (no bias: one bias is enough since the two
// projections are summed), w_k (A, Dk), b_k (A), v (A) (no bias: softmax ignores a shift).
// key_mask (B, S): 1 = real key, 0 = padding; nullptr = all real. A row whose keys are all
// padding gets all-zero weights and a zero context.
//
// The key projection kp = keys W_k^T + b_k does not depend on the query, so it is computed once
// per memory (additive_attention_keys_forward) and shared by every decoder step; its gradient dkp
// is accumulated over the steps and pushed back once (additive_attention_keys_backward).
// Backward recomputes tanh(kp + qp) rather than storing B*Tq*S*A activations.
// Gradients ACCUMULATE (+=).
#pragma once
#include <cstdint>
#include <vector>

namespace qkv::nn {

struct AdditiveAttentionDims {
  int64_t B = 0, Tq = 1, S = 0, Dq = 0, Dk = 0, A = 0;
};

// kp (B, S, A) = keys (B, S, Dk) @ w_k^T + b_k
void additive_attention_keys_forward(const AdditiveAttentionDims& d, const float* keys, const float* w_k,
                                     const float* b_k, float* kp);
// dkeys (B, S, Dk) += dkp @ w_k; dw_k (A, Dk) += dkp^T keys; db_k (A) += Σ dkp. dkeys may be nullptr.
void additive_attention_keys_backward(const AdditiveAttentionDims& d, const float* dkp, const float* keys,
                                      const float* w_k, float* dkeys, float* dw_k, float* db_k);

// query (B, Tq, Dq) contiguous; keys (B, S, Dk); kp (B, S, A) from keys_forward.
// ctx (B, Tq, Dk) contiguous. weights: row (b, q) at weights + (b*Tq + q) * w_stride, S floats
// (w_stride = S for a plain (B, Tq, S) array). scratch: resized as needed.
void additive_attention_forward(const AdditiveAttentionDims& d, const float* query, const float* keys,
                                const float* kp, const uint8_t* key_mask, const float* w_q, const float* v,
                                float* ctx, float* weights, int64_t w_stride, std::vector<float>& scratch);

// dctx (B, Tq, Dk). Accumulates dquery (B, Tq, Dq) (may be nullptr), dkeys (B, S, Dk) (the
// value path only; the key-projection path goes through dkp), dkp (B, S, A), dw_q, dv.
void additive_attention_backward(const AdditiveAttentionDims& d, const float* dctx, const float* query,
                                 const float* keys, const float* kp, const uint8_t* key_mask, const float* weights,
                                 int64_t w_stride, const float* w_q, const float* v, float* dquery, float* dkeys,
                                 float* dkp, float* dw_q, float* dv, std::vector<float>& scratch);

}  // namespace qkv::nn
