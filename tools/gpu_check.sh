#!/usr/bin/env bash
# GPU check, meant for a machine with an NVIDIA GPU (the device tool's H100/H200): build with
# the CUDA backend, run every test (the CUDA equivalence tests run instead of skipping),
# compute-sanitizer (memcheck, racecheck) over the CUDA tests and over short CUDA runs of every
# learner and P_B mode, CLI solves and the study on the GPU, then the exact-core and training
# benchmarks. Logs go to $OUT (or ./gpu-check-out). Never changes the card's settings.
#
#   tools/gpu_check.sh [STAGE ...]     stages: device build tests sanitize cli ceiling bench paper
#                                      (default: all)
#
# Sized for one 10-minute device call on a 16-core machine: sanitizer jobs run in parallel, each
# under its own time limit, and every stage prints its wall time; a later call on the same warm
# machine can run the stages that did not fit (the build is kept in build-gpu/).
# Optional: .deps/usr holding CLI11, nlohmann-json and googletest sources (unpacked .debs) on
# machines without those packages.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
ARCH="${GFNRL_CUDA_ARCH:-90}"
JOBS="${GFNRL_SANITIZER_JOBS:-6}"
STAGES="${*:-device build tests sanitize cli ceiling bench paper}"
extra=()
if [ -d .deps/usr ]; then
  extra+=(-DCMAKE_PREFIX_PATH="$PWD/.deps/usr" -DGFNRL_GTEST_SOURCE_DIR="$PWD/.deps/usr/src/googletest")
fi
status=0
BIN=build-gpu/bin
has() { case " $STAGES " in *" $1 "*) return 0 ;; esac; return 1; }
stage_start=-1
step() {
  [ "$stage_start" -ge 0 ] && echo "(stage took $((SECONDS - stage_start)) s)"
  stage_start=$SECONDS
  echo; echo "=== $*"
}

if has device; then
  step "device"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/device.txt"
  nvcc --version | tail -1
fi

if has build; then
  step "build (CUDA architectures $ARCH)"
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$ARCH" "${extra[@]}" >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
  cmake --build build-gpu -j "$(nproc)" >"$OUT/build.log" 2>&1 || { grep -m20 -E "error" "$OUT/build.log"; exit 1; }
  echo "built"
fi

if has tests; then
  step "tests"
  # The op-by-op equivalence of every training op first (issue 12): decisive on its own, and its
  # log counts the draws on a CDF boundary that picked differently.
  $BIN/gfnrl_tests --gtest_filter='Backends/*Equivalence.*/Cuda' >"$OUT/equivalence.log" 2>&1 || status=1
  grep -E "^\[ (rollouts|replay|backward rollouts) \]|PASSED|FAILED" "$OUT/equivalence.log" | head -30
  ctest --test-dir build-gpu -j "$(nproc)" --output-on-failure >"$OUT/ctest.log" 2>&1 || status=1
  tail -12 "$OUT/ctest.log"
  grep -E "Skipped|Failed" "$OUT/ctest.log" | head -20
fi

if has sanitize; then
  step "compute-sanitizer ($JOBS jobs in parallel)"
  # One line per job: a log name, then the command. The CUDA tests that train for thousands of
  # steps are left to the plain test run; short CLI runs cover the training kernels instead.
  jobs_file="$OUT/sanitizer-jobs.txt"
  : >"$jobs_file"
  add() { echo "$1|$2" >>"$jobs_file"; }
  filter='CudaEquivalence.*:Hypergrid.*:BruteForce.PathCounts:EnvironmentsCuda.*:EnvironmentsExactCore.*:WideEdgeIds.*'
  for tool in memcheck racecheck; do
    add "tests-$tool" "compute-sanitizer --tool $tool --error-exitcode 3 $BIN/gfnrl_tests --gtest_filter=$filter"
    # Every training op once; the 50-step Trainer sequences under memcheck only (racecheck's
    # shared-memory hazards are the ops', and the sequences repeat them 50 times).
    ops='Backends/OpEquivalence.*/Cuda:Backends/RolloutEquivalence.*/Cuda:Backends/ReplayEquivalence.*/Cuda:Backends/LossEquivalence.*/Cuda:Backends/DqnEquivalence.*/Cuda:Backends/CoupledEquivalence.*/Cuda'
    [ "$tool" = memcheck ] && ops="$ops:Backends/TrainerEquivalence.*/Cuda"
    add "ops-$tool" "compute-sanitizer --tool $tool --error-exitcode 3 $BIN/gfnrl_tests --gtest_filter=$ops"
  done
  add "solve" "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/gfnrl solve --ndim 3 --height 12 --backend cuda --json --quiet"
  add "solve-implicit" "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/gfnrl solve --layout implicit --ndim 3 --height 12 --backend cuda --json --quiet"
  add "eval-implicit" "compute-sanitizer --tool racecheck --error-exitcode 3 $BIN/gfnrl eval --policy uniform --layout implicit --ndim 2 --height 40 --backend cuda --json --quiet"
  short="--ndim 3 --height 6 --runs 3 --steps 40 --eval-every 20 --learning-starts 4 --backend cuda --quiet"
  for algo in tb db subtb softdqn munchausen; do
    for tool in memcheck racecheck; do
      add "train-$algo-$tool" "compute-sanitizer --tool $tool --error-exitcode 3 $BIN/gfnrl train --algo $algo $short --out $OUT/san-$algo-$tool.csv"
    done
  done
  i=0
  for args in "--algo pg" "--algo pg --exact-gradient" "--algo pg --exact-gradient --pb learned" \
              "--algo tb --exact-gradient" "--algo tb --exact-gradient --pb learned" "--algo ac" \
              "--algo rtb" "--algo mdb" "--algo softdqn --energy-reward" \
              "--algo tb --pb learned" "--algo tb --pb tlm" "--algo softdqn --pb learned" \
              "--algo softdqn --pb tlm" "--algo pg --pb learned" "--algo ac --pb tlm" \
              "--algo pg --pb coupled" "--algo ac --pb guided"; do
    i=$((i + 1))
    add "extra-$i ($args)" "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/gfnrl train $args $short --out $OUT/san-extra-$i.csv"
  done
  for env in "--env subsets --items 12" "--env bitseq --length 12 --word 2" "--env dag-structure --nodes 5"; do
    add "env ($env)" "compute-sanitizer --tool memcheck --error-exitcode 3 $BIN/gfnrl solve $env --backend cuda --json --quiet"
  done
  export OUT
  run_job() {
    local name="${1%%|*}" cmd="${1#*|}" log
    log="$OUT/sanitizer-$(echo "${name%% *}" | tr -c 'A-Za-z0-9_.-' '_').log"
    set -f  # the gtest filter's '*' must reach the program, not the shell's globbing
    timeout 300 $cmd >"$log" 2>&1
    local rc=$?
    echo "$name: rc=$rc $(grep -m1 -E '(ERROR|RACECHECK) SUMMARY' "$log")"
  }
  export -f run_job
  tr '\n' '\0' <"$jobs_file" | xargs -0 -P "$JOBS" -I{} bash -c 'run_job "$@"' _ {} | tee "$OUT/sanitizer-summary.txt"
  if grep -qv "rc=0" "$OUT/sanitizer-summary.txt"; then status=1; fi
fi

if has cli; then
  step "CLI on the GPU"
  for env in "--env subsets --items 20" "--env bitseq --length 20 --word 2" "--env dag-structure --nodes 5"; do
    $BIN/gfnrl solve $env --backend cuda --json --quiet | tee -a "$OUT/solve-environments.jsonl"
  done
  $BIN/gfnrl solve --env hypergrid --ndim 4 --height 32 --backend cuda --json | tee "$OUT/solve-4x32.json"
  $BIN/gfnrl solve --env hypergrid --ndim 7 --height 10 --backend cuda --correction maxent --json --quiet | tee "$OUT/solve-7x10.json"
  $BIN/gfnrl study --backend cuda --out "$OUT/study-2x16-cuda.csv" | tee "$OUT/study-2x16-cuda.txt"
  $BIN/gfnrl train --algo subtb --preset standard --runs 64 --steps 2000 --eval-every 500 \
    --backend cuda --out "$OUT/train-subtb-4x20-64runs.csv" --json | tee "$OUT/train-subtb-4x20.json"
fi

if has ceiling; then
  step "one GPU's ceiling (issue 17 part 3)"
  # The largest 4-D grid the memory estimate lets one H200 hold (2.12e9 edges: int32 CSC ids
  # still), and a 6-D grid past 2^31 edges (2.24e9: int64 CSC ids), each solved and evaluated.
  tm=(); [ -x /usr/bin/time ] && tm=(/usr/bin/time -v)
  for g in "4 152" "6 27"; do
    set -- $g
    "${tm[@]}" timeout 180 $BIN/gfnrl solve --env hypergrid --ndim "$1" --height "$2" \
      --backend cuda --json >"$OUT/solve-$1x$2.json" 2>"$OUT/solve-$1x$2.err" || status=1
    tail -c 600 "$OUT/solve-$1x$2.json"; echo
    grep -E "Elapsed|Maximum resident|error" "$OUT/solve-$1x$2.err"
  done
  # The implicit layout's CUDA kernels (issue 32 part 2; first run on a GPU here): 6-D H=32
  # (1.07e9 states; the CPU's time is in docs/PERF_NOTES.md), then the issue's goal, 8-D H=16
  # (4.3e9 states, past int32 state ids).
  for g in "6 32" "8 16"; do
    set -- $g
    "${tm[@]}" timeout 240 $BIN/gfnrl solve --layout implicit --ndim "$1" --height "$2" \
      --backend cuda --json >"$OUT/implicit-$1x$2.json" 2>"$OUT/implicit-$1x$2.err" || status=1
    tail -c 900 "$OUT/implicit-$1x$2.json"; echo
    grep -E "Elapsed|Maximum resident|error" "$OUT/implicit-$1x$2.err"
  done
  nvidia-smi --query-gpu=memory.total,memory.used --format=csv | tee -a "$OUT/device.txt"
fi

if has bench; then
  step "benchmark"
  $BIN/gfnrl-bench-exact --backend all --sizes 3x10 4x10 5x10 4x32 6x15 7x10 4x56 --repeats 9 \
    --json >"$OUT/bench-exact.jsonl" 2>"$OUT/bench-exact.err" || status=1
  $BIN/gfnrl-bench-exact --backend cuda --sizes 3x10 4x10 5x10 4x32 6x15 7x10 4x56 --repeats 9 2>/dev/null | tee "$OUT/bench-exact.txt"
  $BIN/gfnrl-bench-train --backend all --runs 1 64 --min-seconds 0.5 --json >"$OUT/bench-train.jsonl" \
    2>"$OUT/bench-train.err" || status=1
  # Issue 12's sizes on the device: 1024 runs of the 4-D H=20 grid (the CPU cannot hold them),
  # and every run count on the 2-D H=16 grid.
  $BIN/gfnrl-bench-train --backend cuda --runs 1024 --algos tb,db,subtb,softdqn,munchausen \
    --min-seconds 0.5 --json >>"$OUT/bench-train.jsonl" 2>>"$OUT/bench-train.err" || status=1
  $BIN/gfnrl-bench-train --backend all --ndim 2 --height 16 --runs 1 64 1024 --min-seconds 0.3 \
    --json >>"$OUT/bench-train.jsonl" 2>>"$OUT/bench-train.err" || status=1
  python3 - "$OUT/bench-train.jsonl" <<'EOF' | tee "$OUT/bench-train.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"{'bknd':5} {'grid':6} {'algo':12} {'runs':>5} {'steps/s':>10} {'traj/s':>12} {'trans/s':>13} {'table GB/s':>10}")
for r in rows:
    print(f"{r['backend']:5} {str(r['ndim']) + 'x' + str(r['height']):6} {r['algo']:12} {r['runs']:5d} "
          f"{r['steps_per_second']:10.1f} {r['trajectories_per_second']:12.0f} "
          f"{r['transitions_per_second']:13.0f} {r['table_gb_per_second']:10.1f}")
EOF
fi
if has paper; then
  step "the seeds' study at their budget: tb on both 4-D H=20 grids, 64 seeds (issue 12 part 4)"
  # Goal: <= 60 s per learner per grid. The other learners: tools/reproduce --algos db,... later.
  GFNRL_BIN=$BIN/gfnrl timeout 300 tools/reproduce --backend cuda --runs 64 --algos tb --out-dir "$OUT/paper" \
    2>&1 | grep -E "^\[reproduce\]|ETA 0 s|error" | tee "$OUT/paper.txt" || status=1
fi
step "done"
echo "gpu_check status: $status"
exit $status
