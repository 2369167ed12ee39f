#include "core/ranks.h"

namespace qkv {
namespace {
const RankHooks* g_ranks = nullptr;
}  // namespace

void register_ranks(const RankHooks* hooks) { g_ranks = hooks; }
const RankHooks* rank_hooks() { return g_ranks; }

}  // namespace qkv
