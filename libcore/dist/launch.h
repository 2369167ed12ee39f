// The job an MPI launcher (mpirun, srun --mpi=pmix) started this process in,
// read from the environment it sets, before and without MPI itself: a build
// without MPI must still notice `mpirun -np 2` and refuse, instead of letting
// two processes each train the whole run.
#pragma once
#include <functional>
#include <string>

namespace qkv::dist {

struct Launch {
  int rank = 0;
  int size = 1;        // 1: this process runs alone
  std::string source;  // the variable that told, e.g. "OMPI_COMM_WORLD_SIZE=2"
};

// OpenMPI's OMPI_COMM_WORLD_SIZE/RANK, PMI_SIZE/RANK (MPICH, srun --mpi=pmi2),
// PMIX_RANK (srun --mpi=pmix, with SLURM_STEP_NUM_TASKS for the size).
Launch launch_from_env(const std::function<const char*(const char*)>& getenv);
Launch launch_from_env();  // this process's environment

// Throws UsageError when the launch has several processes and this build has
// no MPI to join them (have_mpi = false), naming the variable that told.
void check_launch(const Launch& launch, bool have_mpi);

}  // namespace qkv::dist
