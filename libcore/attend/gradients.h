// What qkv-attend takes from a model's backward, through the head probes of
// nn/model.h (per-head gates and attention gradients):
//
// Head importance (Michel et al. 2019, "Are Sixteen Heads Really Better than
// One?"): with gate_h = 1 multiplying head h's output y_h,
//   I_h = sum over examples x of |dL_x/dgate_h|,  dL_x/dgate_h = sum over x's queries of <y_h, dL_x/dy_h>,
// L_x the mean cross-entropy over x's counted targets (no label smoothing),
// then divided per layer by the L2 norm of the layer's heads.
//
// Gradient-weighted rollout (Chefer et al. ICCV 2021, "Generic
// Attention-model Explainability for Interpreting Bi-Modal and
// Encoder-Decoder Transformers"), y_t the logit of one target output:
//   Abar_l = mean over heads of (dy_t/dA_l * A_l)^+                    (eq. 5)
//   self-attention stack:  R = I;  R += Abar_l R, layer by layer        (eq. 6)
//   encoder-decoder: R_ss (S, S) as above over the encoder; R_qq = I (T, T), R_qs = 0 (T, S);
//     per decoder layer: self Abar (T, T):   R_qq += Abar R_qq;  R_qs += Abar R_qs          (eqs. 6, 7)
//                        cross Abar (T, S):  R_qs += nrm(R_qq)^T Abar nrm(R_ss)             (eq. 10)
//     nrm(R) = rownorm(R - I) + I (eqs. 8-9); a row of R - I summing to 0 stays 0
//     (the authors' code turns the 0/0 into NaN and zeroes the whole update).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <memory>
#include <vector>

#include "io/h5.h"
#include "nn/model.h"

namespace qkv::attend {

// A checkpoint's model for analysis: dropout and label smoothing 0, so a
// training forward (kept for a backward) computes what an evaluation forward
// does and the loss is the plain mean cross-entropy.
std::unique_ptr<nn::Model> load_analysis_model(const io::H5In& in);

// Counted targets per row of b (lm: tgt != -1; seq2seq: tgt_out != pad_id; vit: 1).
std::vector<int64_t> targets_per_row(const nn::Model& m, const nn::Batch& b);

// Training forward and backward of b (with targets); acc[p][h] += over the rows x of b
// |dL_x/dgate_h| for probe p (head_probes() order). Returns the forward's stats.
nn::Stats add_head_importance(nn::Model& m, const nn::Batch& b, std::vector<std::vector<double>>& acc);
// imp (L, H): each layer's row divided by its L2 norm (a row of zeros stays 0).
void normalize_per_layer(float* imp, int64_t L, int64_t H);

// The output whose gradient weights the rollout: lm / seq2seq: logit of token
// `id` at query position `position`; vit: logit of class `id` (position 0).
struct GradTarget {
  int64_t position = 0, id = 0;
};
// Training forward of b, its targets, then the backward of the sum over rows
// of the targets' logits with every probe's keep_grads on: the probes'
// att_grad and the attention maps are then those of b. Targets: lm / seq2seq
// at the last position of each row (lengths[r] positions): token `forced`
// when >= 0, else the teacher-forced next token there when the batch has it,
// else the arg max; vit: class `forced` when >= 0, else the predicted one.
std::vector<GradTarget> target_backward(nn::Model& m, const nn::Batch& b, const std::vector<int64_t>& lengths,
                                        int64_t forced);

// After target_backward(): row r's gradient-weighted rollouts, cropped to its
// S source (sequence) tokens and T target positions, by kind: self and
// encoder_self R (S, S), decoder_self R_qq (T, T), cross R_qs (T, S).
std::map<std::string, std::vector<float>> grad_rollouts(const nn::Model& m, int64_t r, int64_t S, int64_t T);

// abar (Tq, Tk) = mean over heads of (g * a)^+; a, g (H, Tq, Tk).
void grad_weighted_mean(float* abar, const float* a, const float* g, int64_t H, int64_t Tq, int64_t Tk);
// r (T, T): R = I; R += Abar_l R for abar (L, T, T).
void grad_rollout_self(float* r, const float* abar, int64_t L, int64_t T);
// r_qq (T, T), r_qs (T, S) from r_ss (S, S) (the encoder's grad_rollout_self), the decoder's
// self abar (Ld, T, T) and cross abar (Ld, T, S).
void grad_rollout_cross(float* r_qq, float* r_qs, const float* r_ss, const float* self_abar, const float* cross_abar,
                        int64_t Ld, int64_t T, int64_t S);

}  // namespace qkv::attend
