#include "score/error_rate.h"

#include "core/error.h"
#include "score/text.h"

namespace qkv::score {

ErrorRates error_rates(const Lines& hyps, const References& refs, Tokenize t, bool lowercase) {
  QKV_CHECK(hyps.size() == refs.size(), "one list of references per hypothesis");
  ErrorRates e;
  for (size_t i = 0; i < hyps.size(); ++i) {
    QKV_CHECK(!refs[i].empty(), "every hypothesis needs a reference");
    std::vector<std::vector<std::u32string>> rw;
    for (const auto& r : refs[i]) rw.push_back(words(decode_utf8(r, "reference"), t, lowercase));
    e.add(closest_reference(words(decode_utf8(hyps[i], "hypothesis"), t, lowercase), rw));
  }
  return e;
}

}  // namespace qkv::score
