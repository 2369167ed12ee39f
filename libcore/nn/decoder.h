// Decoder: incremental decoding of a model that generates (gpt, transformer,
// rnn), in CTranslate2's split: the model offers start / step / reorder over a
// DecoderState, and the search strategies (nn/decoding.h: greedy, beam,
// sampling) are plain code over this interface that never touch a model's
// insides.
//
//   auto dec = model.decoder();                        // UsageError for a model that does not generate (vit)
//   auto st = dec->start({src0, src1}, capacity);      // seq2seq: encodes the sources; lm: B empty rows
//   std::vector<float> logits(st->batch() * dec->vocab_size());
//   dec->step(*st, ids, logits.data());                // ids (B): each row's token at position st->length()
//   dec->reorder(*st, {0, 0, 1, 1});                   // row i := old row rows[i] (beam search; B may change)
//   dec->recycle(std::move(st));                       // done: the next start() reuses its buffers
//
// Every row of a state is at the same position: step feeds one token per row
// at position length() and returns the logits (B, V) of the next token there.
// What the rows see:
//   gpt          causal self-attention over the row's own tokens (KV cache per layer)
//   transformer  the encoder runs once in start(), and every decoder layer's
//                cross-attention keys/values of the memory are projected once
//                there; the decoder's self-attention keeps a KV cache
//   rnn          the encoder runs once in start(); the state is each decoder
//                layer's hidden (and LSTM cell) state
// The step's logits equal those of the model's full forward (Model::forward)
// over the same tokens, within float rounding (tests/nn_decoder_test.cpp).
//
// A decoder reads the model's weights when it is made (and packs their
// matrices for steps of more than kFewRows rows at the first such step,
// nn/linear.h): make a new one after the weights change.
//
// The KV caches are allocated once, for `capacity` positions (every token
// that will be fed, context included); start() throws UsageError when the
// model cannot hold that many (learned positions: gpt block_size, transformer
// max_len).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/model.h"

namespace qkv::nn {

// The state of a batch of rows being decoded; each model derives its own.
class DecoderState {
 public:
  virtual ~DecoderState() = default;
  int64_t batch() const { return B_; }    // rows
  int64_t length() const { return len_; }  // positions fed so far (the same for every row)
  int64_t capacity() const { return cap_; }

 protected:
  int64_t B_ = 0, len_ = 0, cap_ = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;

  virtual int64_t vocab_size() const = 0;  // V: logits per row (the target vocabulary)
  // Positions one row can hold (learned position tables); INT64_MAX when unbounded.
  virtual int64_t max_positions() const = 0;
  // Whether start() reads sources (seq2seq) or only their count (language model).
  virtual bool has_source() const = 0;

  // One row per source (B = sources.size() >= 1). seq2seq: source ids, any
  // length >= 0, checked against the source vocabulary (DataError); an empty
  // source attends to nothing. lm: each source must be empty.
  virtual std::unique_ptr<DecoderState> start(const std::vector<std::vector<int32_t>>& sources,
                                              int64_t capacity) = 0;

  // ids (B): every row's token at position length(); logits (B, V) of the
  // next token. attention (optional): this step's weights, one map per
  // attention layer, shape {B, H, 1, Tk} (self: Tk = length() after the step;
  // cross: the source length; rnn: {B, 1, 1, S}), valid until the next call.
  virtual void step(DecoderState& state, const int32_t* ids, float* logits,
                    std::vector<AttentionMap>* attention = nullptr) = 0;

  // Row i of the state becomes old row rows[i]; the batch becomes rows.size().
  // Rows may repeat (expanding a source into K beams) or be dropped.
  virtual void reorder(DecoderState& state, const std::vector<int64_t>& rows) = 0;

  // A finished state, given back: the next start() reuses its buffers (KV
  // caches, the memory's keys and values) instead of allocating, zeroing and
  // faulting in fresh ones, which a short decode called batch after batch
  // (G2P: a word's ~8 steps) cannot amortize. Optional; a state of another
  // decoder is dropped.
  virtual void recycle(std::unique_ptr<DecoderState> state) { state.reset(); }
};

}  // namespace qkv::nn
