// When a tool runs as one of several processes of one job (MPI ranks), a
// failure must end every rank, not leave the others waiting in a collective.
// libqkvbase does not link MPI: libcore/dist registers these hooks once it
// has joined a job of more than one process (dist::Comm::world()), and from
// then on cli::Tool reports a failure through them instead of returning its
// exit code.
#pragma once
#include <string>

namespace qkv {

struct RankHooks {
  // Prints the tool's one error line (when this rank is the one to print it)
  // and ends every rank of the job with exit code `code`. Never returns
  // (not declared [[noreturn]]: standard C++ allows it on functions only, not
  // on a pointer to one; clang refuses it there).
  void (*fail)(const std::string& line, int code);
};
// Called once by libcore/dist on joining a job of more than one process.
void register_ranks(const RankHooks* hooks);
// The registered hooks, or nullptr for a process that runs alone.
const RankHooks* rank_hooks();

}  // namespace qkv
