#include "dist/launch.h"

#include <algorithm>
#include <cstdlib>

#include "core/error.h"

namespace qkv::dist {
namespace {

// A non-negative integer variable, or -1 when unset or not a number.
int env_int(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* v = getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  return *end == '\0' && x >= 0 && x < (1L << 30) ? static_cast<int>(x) : -1;
}

}  // namespace

Launch launch_from_env(const std::function<const char*(const char*)>& getenv) {
  Launch l;
  const char* size_vars[][2] = {{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"}, {"PMI_SIZE", "PMI_RANK"}};
  for (const auto& [size_var, rank_var] : size_vars) {
    int size = env_int(getenv, size_var);
    if (size < 1) continue;
    l.size = size;
    l.rank = std::max(0, env_int(getenv, rank_var));
    l.source = std::string(size_var) + "=" + std::to_string(size);
    return l;
  }
  if (int rank = env_int(getenv, "PMIX_RANK"); rank >= 0) {
    int tasks = env_int(getenv, "SLURM_STEP_NUM_TASKS");
    l.rank = rank;
    l.size = std::max(rank + 1, tasks);
    l.source = tasks > 0 ? "PMIX_RANK=" + std::to_string(rank) + " SLURM_STEP_NUM_TASKS=" + std::to_string(tasks)
                         : "PMIX_RANK=" + std::to_string(rank);
  }
  return l;
}

Launch launch_from_env() {
  return launch_from_env([](const char* name) { return static_cast<const char*>(std::getenv(name)); });
}

void check_launch(const Launch& launch, bool have_mpi) {
  if (launch.size <= 1 || have_mpi) return;
  throw UsageError("started as one of " + std::to_string(launch.size) + " processes (" + launch.source +
                   "), but this qkv was built without MPI, so each process would run the whole job alone; "
                   "run one process, or install an MPI library (Debian: libopenmpi-dev) and rebuild qkv");
}

}  // namespace qkv::dist
