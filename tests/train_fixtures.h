// Small qkv data files for the qkv-train tests, written with libcore's own
// H5Out (so the tests need no other tool).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "io/h5.h"
#include "nn/checkpoint.h"
#include "nn/model.h"

namespace qkv::test {

// /<group>/ids, /<group>/offsets and the vocabulary attributes of a tokens
// or token_pairs file (group "" = root).
inline void write_sequences(io::H5Out& out, const std::string& group, const std::vector<std::vector<int32_t>>& seqs,
                            int64_t vocab, const std::string& sha = "abc") {
  std::vector<int32_t> ids;
  std::vector<int64_t> off{0};
  for (const auto& s : seqs) {
    ids.insert(ids.end(), s.begin(), s.end());
    off.push_back(static_cast<int64_t>(ids.size()));
  }
  std::string pre = group.empty() ? "" : group + "/";
  out.write(pre + "ids", Tensor::from(ids, {static_cast<int64_t>(ids.size())}));
  out.write(pre + "offsets", Tensor::from(off, {static_cast<int64_t>(off.size())}));
  std::string obj = group.empty() ? "/" : "/" + group;
  out.set_attr(obj, "vocab_size", vocab);
  out.set_attr(obj, "pad_id", int64_t{0});
  out.set_attr(obj, "bos_id", int64_t{1});
  out.set_attr(obj, "eos_id", int64_t{2});
  out.set_attr(obj, "unk_id", int64_t{3});
  out.set_attr(obj, "tokenizer_sha256", sha);
}

inline std::string write_tokens(const std::string& path, const std::vector<std::vector<int32_t>>& seqs,
                                int64_t vocab) {
  io::H5Out out(path, "tokens");
  write_sequences(out, "", seqs, vocab);
  out.commit();
  return path;
}

// A sequence-reversal task: sources of 3-6 ids in [4, vocab), targets reversed.
inline std::string write_reversal_pairs(const std::string& path, int n, uint64_t seed, int64_t vocab = 12) {
  std::vector<std::vector<int32_t>> src, tgt;
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int i = 0; i < n; ++i) {
    int len = 3 + static_cast<int>(next() % 4);
    std::vector<int32_t> s;
    for (int k = 0; k < len; ++k) s.push_back(4 + static_cast<int32_t>(next() % static_cast<uint64_t>(vocab - 4)));
    src.push_back(s);
    tgt.emplace_back(s.rbegin(), s.rend());
  }
  io::H5Out out(path, "token_pairs");
  write_sequences(out, "src", src, vocab, "src");
  write_sequences(out, "tgt", tgt, vocab, "tgt");
  out.commit();
  return path;
}

// Images of n_classes classes: class c lights up patch c % P, plus noise.
// with_geometry: also the image attributes qkv-patchify writes, for a square
// gray image of sqrt(P) x sqrt(P) square patches of sqrt(D) x sqrt(D) pixels.
inline std::string write_patches(const std::string& path, int n, int P, int D, int n_classes, uint64_t seed,
                                 bool with_geometry = false) {
  std::vector<float> px(static_cast<size_t>(n) * P * D);
  std::vector<int32_t> labels(n);
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (int i = 0; i < n; ++i) {
    labels[i] = i % n_classes;
    for (int p = 0; p < P; ++p)
      for (int d = 0; d < D; ++d) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        float noise = static_cast<float>(x % 1000) / 4000.0f;
        px[(static_cast<size_t>(i) * P + p) * D + d] = noise + (p == labels[i] % P ? 0.75f : 0.0f);
      }
  }
  io::H5Out out(path, "patches");
  out.write("patches", Tensor::from(px, {n, P, D}));
  out.write("labels", Tensor::from(labels, {n}));
  out.set_attr("/", "num_classes", int64_t{n_classes});
  if (with_geometry) {
    int64_t g = 1, p = 1;
    while (g * g < P) ++g;
    while (p * p < D) ++p;
    for (const char* a : {"image_height", "image_width"}) out.set_attr("/", a, g * p);
    for (const char* a : {"patch_height", "patch_width", "stride_height", "stride_width"}) out.set_attr("/", a, p);
    for (const char* a : {"grid_rows", "grid_cols"}) out.set_attr("/", a, g);
    out.set_attr("/", "channels", int64_t{1});
    out.set_attr("/", "normalize", std::string("custom"));
    out.set_attr("/", "mean", std::vector<double>{0.0});
    out.set_attr("/", "std", std::vector<double>{1.0 / 255});
  }
  out.commit();
  return path;
}

// Every parameter of a checkpoint, and the largest absolute difference
// between two checkpoints' parameters (their counts must agree).
inline std::vector<float> params_of(const std::string& path) {
  io::H5In in(path);
  auto m = nn::load_model(in);
  return std::vector<float>(m->params().params(), m->params().params() + m->params().size());
}

inline double max_difference(const std::string& a, const std::string& b) {
  std::vector<float> x = params_of(a), y = params_of(b);
  EXPECT_EQ(x.size(), y.size());
  double d = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) d = std::max(d, std::fabs(static_cast<double>(x[i]) - y[i]));
  return d;
}

// An integer attribute of a checkpoint's /train_state ("step", "keep_last", ...).
inline int64_t train_state_int(const std::string& path, const char* key) {
  return io::H5In(path).attr_int("/train_state", key);
}

}  // namespace qkv::test
