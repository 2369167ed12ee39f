// qkv-attend sdpa: scaled dot-product attention on raw Q, K, V tensors from
// any source (self-attention when the three are the same tensor,
// cross-attention when Q comes from elsewhere), through the engine's kernel
// (nn/attention.h).
//
//   without proj: out = softmax(Q K^T / sqrt(hs) + masks) V per head, i.e.
//     torch.nn.functional.scaled_dot_product_attention on q, k, v split into
//     heads: (B, T, E) -> (B, H, T, E / H); output heads side by side again.
//   with proj: torch.nn.MultiheadAttention(E, H, batch_first=True) with the
//     given in_proj_weight (3E, E), in_proj_bias (3E), out_proj.weight (E, E),
//     out_proj.bias (E) (biases optional), called as mha(q, k, v).
//
// Shapes: q (B, Tq, E), k (B, Tk, E), v (B, Tk, E); or all three (T, E)
// (one sequence, B = 1); or, without proj, head-major (B, H, T, hs) as
// F.scaled_dot_product_attention takes them. The value size must equal the
// query/key size (the kernel has one head size).
// Masks: causal = query i sees keys j <= i + Tk - Tq (for Tq == Tk PyTorch's
// is_causal; otherwise aligned bottom-right, PyTorch >= 2.1's
// causal_lower_right); key_padding_mask (B, Tk) (or (Tk) for 2-D inputs),
// nonzero = padded key (nn.MultiheadAttention's convention, the opposite of
// sdpa's boolean attn_mask). A query with every key masked gets zero weights
// and a zero output where PyTorch gives NaN.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "tensor/tensor.h"

namespace qkv::attend {

struct SdpaWeights {  // nn.MultiheadAttention's parameters; undefined = absent
  Tensor in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias;
};

struct SdpaResult {
  Tensor out;      // q's shape with E (or hs) of v
  Tensor weights;  // (B, H, Tq, Tk) softmax weights
};

// heads: 0 = one head (or H of a 4-D input). Throws DataError naming the
// tensors on mismatched shapes (`names` label q, k, v, mask, proj in messages).
struct SdpaNames {
  std::string q = "q", k = "k", v = "v", mask = "key_padding_mask", proj = "proj";
};
SdpaResult sdpa(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_padding_mask,
                const SdpaWeights* proj, int64_t heads, bool causal, const SdpaNames& names = {});

// The tool: reads "FILE" (its one dataset) or "FILE:DATASET" for q, k, v and
// the mask ("" = none), "FILE" or "FILE:GROUP" holding the proj state_dict
// ("" = none), computes, writes -o (qkv_format "attention_sdpa": out, weights).
struct SdpaFiles {
  std::string q, k, v, key_padding_mask, proj, output;
  int64_t heads = 0;
  bool causal = false;
};
void run_sdpa(const SdpaFiles& files);

// A tensor named "FILE" (a file holding exactly one dataset outside
// /provenance) or "FILE:DATASET". Throws DataError when ambiguous or absent.
Tensor read_tensor_arg(const std::string& spec, DType dtype);
// "FILE" -> {FILE, ""}; "FILE:NAME" -> {FILE, NAME} unless FILE:NAME is itself a file.
std::pair<std::string, std::string> split_spec(const std::string& spec);

}  // namespace qkv::attend
