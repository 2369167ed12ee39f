// Element-wise activations: ReLU and GELU, the latter exact (erf, PyTorch's
// nn.GELU() default, used by nanoGPT) or the tanh approximation
// (nn.GELU(approximate="tanh"), GPT-2's original). The backward takes the
// forward's input (pre-activation), so no extra buffer is kept.
#pragma once
#include <cstdint>
#include <string>

namespace qkv::nn {

enum class Activation { relu, gelu_erf, gelu_tanh };

// "relu", "gelu" (exact, erf), "gelu_tanh"; throws DataError for other names.
Activation activation_from_name(const std::string& name);
const char* activation_name(Activation a);

// out (n) = act(inp (n)); out may equal inp (in place).
void activation_forward(Activation a, float* out, const float* inp, int64_t n);
// dinp (n) += dout (n) * act'(inp (n)).
void activation_backward(Activation a, float* dinp, const float* dout, const float* inp, int64_t n);

// Training form: out (n) = act(inp), and dact (n) = act'(inp) kept for the
// backward, computed while the shared terms (erf, tanh) are at hand, so the
// backward is one multiply: dinp (n) += dout (n) * dact (n).
void activation_forward_train(Activation a, float* out, float* dact, const float* inp, int64_t n);
void activation_backward_cached(float* dinp, const float* dout, const float* dact, int64_t n);

void relu_forward(float* out, const float* inp, int64_t n);
void relu_backward(float* dinp, const float* dout, const float* inp, int64_t n);
void gelu_erf_forward(float* out, const float* inp, int64_t n);
void gelu_erf_backward(float* dinp, const float* dout, const float* inp, int64_t n);
void gelu_tanh_forward(float* out, const float* inp, int64_t n);
void gelu_tanh_backward(float* dinp, const float* dout, const float* inp, int64_t n);

}  // namespace qkv::nn
