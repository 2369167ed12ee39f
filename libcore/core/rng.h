// Rng: the one seeded random generator of qkv (weight init, dropout masks,
// data order). xoshiro256** (Blackman & Vigna 2018, public-domain reference
// at prng.di.unimi.it), seeded through splitmix64. Everything random takes an
// Rng& from the caller, so a run is reproducible from its seed, and the whole
// state is four uint64 words (state()/set_state()), so a checkpoint saves it
// and a resumed run draws exactly the same numbers. Hand-written rather than
// <random>: std:: distributions differ between standard libraries and keep
// hidden state, which would break bitwise-exact resume across machines.
//
//   Rng rng(42);
//   float u = rng.uniform();             // [0, 1), 24 random bits
//   float z = rng.normal();              // N(0, 1), Box-Muller, no cached spare
//   uint64_t k = rng.below(n);           // uniform in [0, n), unbiased
//   Rng::State s = rng.state();  ...  rng.set_state(s);
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

namespace qkv {

class Rng {
 public:
  using State = std::array<uint64_t, 4>;

  explicit Rng(uint64_t seed = 0x9E3779B97F4A7C15ull) { seed_with(seed); }

  void seed_with(uint64_t seed) {
    uint64_t z = seed;
    for (auto& w : s_) w = splitmix64(z);
  }

  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }

  // Uniform in [0, 1) with 24 random bits (every value exactly representable).
  float uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }
  // Uniform in [lo, hi).
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), n > 0, without modulo bias (rejection).
  uint64_t below(uint64_t n) {
    if (n <= 1) return 0;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = next_u64();
    while (r >= limit);
    return r % n;
  }
  // Standard normal (Box-Muller from two draws; no spare is cached, so the
  // state is only the four words).
  float normal() {
    double u1;
    do u1 = uniform_double();
    while (u1 <= 0.0);
    const double u2 = uniform_double();
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  float normal(float mean, float std) { return mean + std * normal(); }

  State state() const { return s_; }
  void set_state(const State& s) { s_ = s; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& z) {
    uint64_t r = (z += 0x9E3779B97F4A7C15ull);
    r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9ull;
    r = (r ^ (r >> 27)) * 0x94D049BB133111EBull;
    return r ^ (r >> 31);
  }
  State s_{};
};

}  // namespace qkv
