// A launch that would run the whole job once per task, each task alone (ranks.hpp).
#include <cstdlib>
#include <string>

#include "ranks.hpp"

namespace gfnrl::cli {

namespace {
// A launcher's task count or rank from the environment: a decimal number, or -1.
long long env_number(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  return *end == '\0' ? n : -1;
}
}  // namespace

std::string launch_without_ranks(bool& prints) {
  const bool rank_variable = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") ||
                             std::getenv("PMI_RANK") || std::getenv("PMI_SIZE");
  const long long slurm_tasks = env_number("SLURM_STEP_NUM_TASKS");  // srun's; not sbatch's
  long long tasks = 1, rank = 0;
  std::string how;
  if (!rank_variable && slurm_tasks > 1) {
    // srun started N tasks but gave them no PMI: MPI_Init would make each a world of one.
    tasks = slurm_tasks, rank = env_number("SLURM_PROCID");
    how = "srun started " + std::to_string(tasks) + " tasks without PMI (no PMI/PMIx rank "
          "variables), so each would run the whole job alone: start it with srun --mpi=pmix (or "
          "--mpi=pmi2), or as one task (srun -n 1)";
  } else if (!mpi_compiled()) {
    for (const char* n : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"})
      if (env_number(n) > 1) tasks = env_number(n);
    for (const char* n : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
      if (env_number(n) >= 0) rank = env_number(n);
    if (tasks > 1)
      how = "started as " + std::to_string(tasks) + " tasks by a launcher, but this gfnrl is "
            "built without MPI, so each would run the whole job alone: run it as one process, or "
            "rebuild where CMake finds MPI (apt-get install libopenmpi-dev openmpi-bin)";
  }
  prints = rank <= 0;
  return how;
}

}  // namespace gfnrl::cli
