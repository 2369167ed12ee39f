#include "nn/head_mask.h"

#include <map>
#include <vector>

#include "core/error.h"

namespace qkv::nn {

namespace {

// A non-negative decimal integer, whole; -1 otherwise.
int64_t index_or_bad(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(s);
}

}  // namespace

void mask_heads(Model& m, const std::string& list) {
  std::vector<HeadProbe>& probes = m.head_probes();
  for (HeadProbe& p : probes) p.gate.clear();
  if (list.empty()) return;
  const std::string flag = "--mask-heads " + list + ": ";
  if (probes.empty()) throw UsageError(flag + "'" + m.arch() + "' has no multi-head attention to mask");
  const bool enc_dec = probes.front().kind == "encoder_self";
  const std::map<std::string, std::string> prefixes = {{"enc", "encoder_self"}, {"dec", "decoder_self"},
                                                       {"cross", "cross"}};
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    const std::string item = list.substr(pos, comma - pos);
    pos = comma + 1;
    std::vector<std::string> parts;
    for (size_t a = 0;;) {
      const size_t dot = item.find('.', a);
      parts.push_back(item.substr(a, dot == std::string::npos ? std::string::npos : dot - a));
      if (dot == std::string::npos) break;
      a = dot + 1;
    }
    std::string kind = "self";
    if (enc_dec) {
      const auto it = parts.size() == 3 ? prefixes.find(parts[0]) : prefixes.end();
      if (it == prefixes.end())
        throw UsageError(flag + "'" + item + "' is not enc.LAYER.HEAD, dec.LAYER.HEAD or cross.LAYER.HEAD");
      kind = it->second;
      parts.erase(parts.begin());
    } else if (parts.size() != 2) {
      throw UsageError(flag + "'" + item + "' is not LAYER.HEAD (e.g. 2.3, counted from 0)");
    }
    const int64_t layer = index_or_bad(parts[0]), head = index_or_bad(parts[1]);
    if (layer < 0 || head < 0) throw UsageError(flag + "'" + item + "': layer and head are numbers counted from 0");
    int64_t layers = 0;
    HeadProbe* hit = nullptr;
    for (HeadProbe& p : probes)
      if (p.kind == kind) {
        ++layers;
        if (p.layer == layer) hit = &p;
      }
    const std::string what = enc_dec ? kind + " " : "";
    if (!hit)
      throw UsageError(flag + "'" + item + "': layer " + std::to_string(layer) + " out of range (the model has " +
                       std::to_string(layers) + " " + what + "layers, 0-" + std::to_string(layers - 1) + ")");
    if (head >= hit->H)
      throw UsageError(flag + "'" + item + "': head " + std::to_string(head) + " out of range (" +
                       std::to_string(hit->H) + " heads, 0-" + std::to_string(hit->H - 1) + ")");
    if (hit->gate.empty()) hit->gate.assign(hit->H, 1.0f);
    hit->gate[head] = 0.0f;
  }
}

}  // namespace qkv::nn
