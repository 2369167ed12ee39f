// Flat hash maps for the tokenizer's hot loops: byte string -> value (pre-token
// counts while learning, the pre-token -> ids cache while encoding) and
// uint64 -> value (symbol pairs while learning, merge ranks while encoding).
//
// Hand-written because std::unordered_map allocates a node per entry and
// hashes std::string keys slowly; these keep keys in one arena and probe
// linearly in a power-of-two table, which is what makes counting and cached
// encoding run at memory speed. No dependency of qkv offers one.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace qkv::tokenize {

// 64-bit hash of a byte string: 8 bytes at a time, multiply-xorshift mixing.
inline uint64_t hash_bytes(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ (v * 0xFF51AFD7ED558CCDull)) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t v = 0;
  std::memcpy(&v, p, n);
  h = (h ^ (v * 0xFF51AFD7ED558CCDull)) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 32;
  return h;
}

inline uint64_t hash_u64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  return x;
}

// Byte string -> V. Keys live in one arena; entries are never erased.
template <class V>
class StrMap {
 public:
  struct Entry {
    uint64_t hash;
    uint64_t key_off;
    uint32_t key_len;
    V value;
  };

  explicit StrMap(size_t initial_capacity = 1024) { rehash(round_up(initial_capacity * 2)); }

  size_t size() const { return entries_.size(); }
  // Bytes held (arena + entries + table), for memory-bounded callers.
  size_t memory_bytes() const {
    return arena_.capacity() + entries_.capacity() * sizeof(Entry) + table_.capacity() * sizeof(uint32_t);
  }

  // The value for key, inserted as init when absent.
  V& get_or_insert(std::string_view key, const V& init = V{}) { return get_or_insert(key, hash_bytes(key.data(), key.size()), init); }
  V& get_or_insert(std::string_view key, uint64_t h, const V& init = V{}) {
    size_t mask = table_.size() - 1, i = h & mask;
    for (;;) {
      uint32_t slot = table_[i];
      if (slot == kEmpty) break;
      Entry& e = entries_[slot];
      if (e.hash == h && e.key_len == key.size() && std::memcmp(arena_.data() + e.key_off, key.data(), key.size()) == 0)
        return e.value;
      i = (i + 1) & mask;
    }
    uint32_t idx = static_cast<uint32_t>(entries_.size());
    entries_.push_back(Entry{h, arena_.size(), static_cast<uint32_t>(key.size()), init});
    arena_.append(key.data(), key.size());
    table_[i] = idx;
    if (entries_.size() * 2 > table_.size()) rehash(table_.size() * 2);
    return entries_[idx].value;
  }

  // Pointer to the value, or nullptr.
  const V* find(std::string_view key) const { return find(key, hash_bytes(key.data(), key.size())); }
  const V* find(std::string_view key, uint64_t h) const {
    size_t mask = table_.size() - 1, i = h & mask;
    for (;;) {
      uint32_t slot = table_[i];
      if (slot == kEmpty) return nullptr;
      const Entry& e = entries_[slot];
      if (e.hash == h && e.key_len == key.size() && std::memcmp(arena_.data() + e.key_off, key.data(), key.size()) == 0)
        return &e.value;
      i = (i + 1) & mask;
    }
  }

  std::string_view key(const Entry& e) const { return std::string_view(arena_.data() + e.key_off, e.key_len); }
  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>& entries() { return entries_; }

  void clear() {
    entries_.clear();
    arena_.clear();
    std::fill(table_.begin(), table_.end(), kEmpty);
  }

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
  static size_t round_up(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
  }
  void rehash(size_t cap) {
    table_.assign(cap, kEmpty);
    size_t mask = cap - 1;
    for (uint32_t k = 0; k < entries_.size(); ++k) {
      size_t i = entries_[k].hash & mask;
      while (table_[i] != kEmpty) i = (i + 1) & mask;
      table_[i] = k;
    }
  }

  std::vector<Entry> entries_;
  std::string arena_;
  std::vector<uint32_t> table_;
};

// uint64 key -> V, open addressing; key ~0 is reserved as "empty".
template <class V>
class U64Map {
 public:
  explicit U64Map(size_t initial_capacity = 1024) { rehash(round_up(initial_capacity * 2)); }
  size_t size() const { return size_; }

  V& get_or_insert(uint64_t key, const V& init = V{}) {
    size_t mask = keys_.size() - 1, i = hash_u64(key) & mask;
    while (keys_[i] != kEmpty) {
      if (keys_[i] == key) return vals_[i];
      i = (i + 1) & mask;
    }
    if ((size_ + 1) * 2 > keys_.size()) {
      rehash(keys_.size() * 2);
      return get_or_insert(key, init);
    }
    keys_[i] = key;
    vals_[i] = init;
    ++size_;
    return vals_[i];
  }
  const V* find(uint64_t key) const {
    size_t mask = keys_.size() - 1, i = hash_u64(key) & mask;
    while (keys_[i] != kEmpty) {
      if (keys_[i] == key) return &vals_[i];
      i = (i + 1) & mask;
    }
    return nullptr;
  }
  V* find(uint64_t key) { return const_cast<V*>(static_cast<const U64Map*>(this)->find(key)); }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static size_t round_up(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
  }
  void rehash(size_t cap) {
    std::vector<uint64_t> old_keys(cap, kEmpty);
    std::vector<V> old_vals(cap);
    old_keys.swap(keys_);
    old_vals.swap(vals_);
    size_t mask = cap - 1;
    for (size_t k = 0; k < old_keys.size(); ++k) {
      if (old_keys[k] == kEmpty) continue;
      size_t i = hash_u64(old_keys[k]) & mask;
      while (keys_[i] != kEmpty) i = (i + 1) & mask;
      keys_[i] = old_keys[k];
      vals_[i] = std::move(old_vals[k]);
    }
  }
  std::vector<uint64_t> keys_;
  std::vector<V> vals_;
  size_t size_ = 0;
};

inline uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace qkv::tokenize
