/// @file gfnrl.hpp
/// Umbrella header of libgfnrl: exact tabular soft RL / GFlowNets on enumerated DAGs.
#pragma once
#include "gfnrl/array.hpp"
#include "gfnrl/backend.hpp"
#include "gfnrl/backward_policy.hpp"
#include "gfnrl/config.hpp"
#include "gfnrl/dag.hpp"
#include "gfnrl/dag_file.hpp"
#include "gfnrl/environments.hpp"
#include "gfnrl/error.hpp"
#include "gfnrl/hypergrid.hpp"
#include "gfnrl/marginals.hpp"
#include "gfnrl/memory_budget.hpp"
#include "gfnrl/metrics.hpp"
#include "gfnrl/soft_values.hpp"
#include "gfnrl/stopwatch.hpp"
#include "gfnrl/sweep.hpp"
#include "gfnrl/train.hpp"
