/// @file loss_shapes.hpp
/// The balance losses' shapes and SubTB's weightings: one definition, used by TrainConfig
/// (train.hpp) and by the per-element loss math (detail/loss_math.hpp) alike.
#pragma once
#include <cstdint>

namespace gfnrl {

/// The loss shape g(delta) of TB, DB, SubTB and modified DB residuals in place of delta^2
/// (formulas, sources and the clamp in detail/loss_math.hpp): squared t^2, absolute |t|,
/// huber(k) t^2 within k and linear beyond, linex(a) (e^{a t} - a t - 1) / a^2, shifted-cosh
/// e^t + e^{-t} - 2; shifted-cosh and linex(1), linex(1/2) are Hu et al. 2025's ("Beyond Squared
/// Error"), absolute and huber the library's own. Every one is 0 only at delta = 0, so the fixed
/// point does not change.
enum class Regression : int32_t { Squared, Absolute, Huber, Linex, ShiftedCosh };

/// SubTB's weighting of its sub-trajectories (torchgfn 2.4's names and, for each, what its code
/// computes; detail/loss_math.hpp): geometric-within lambda^len normalised per trajectory
/// (Madan et al.'s, the default); equal-within the same at lambda = 1; geometric the mean loss of
/// the sub-trajectories of each length, lengths weighted (1-lambda) lambda^(len-1) /
/// (1-lambda^max_len) (torchgfn's code; its docstring describes geometric-batch); equal every
/// sub-trajectory of the run's batch alike; tb only whole trajectories (the TB loss with
/// log Z = F(s0)); db only single steps, all alike (the DB loss); modified-db single steps
/// weighted 1/(len B), every trajectory counting alike (torchgfn's ModifiedDB; not the `mdb`
/// learner); geometric-batch lambda^len normalised over every pair of the run's batch (this
/// library's `geometric` before 2026-12-05).
enum class SubTBWeighting : int32_t {
  GeometricWithin, Geometric, EqualWithin, Equal, TB, DB, ModifiedDB, GeometricBatch
};

}  // namespace gfnrl
