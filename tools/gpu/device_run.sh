#!/usr/bin/env bash
# Runs CUDA attention checks and benchmarks on the lent GPU machine, in the repository root.
#   tools/gpu/device_run.sh STEP...   STEP: info | build | test | branch-tests | sanitize | bench |
#                                           bench-quick | peer | peer-quick | report | linear | ncu |
#                                           ncu-src (NCU_K, NCU_SHAPE)
# Binaries come from .devbin/ (built elsewhere and carried, with the shared libraries they need)
# unless `build` ran here first (then build-dev/). Logs and CSVs go to $OUT (default /tmp/eft_out).
set -uo pipefail
OUT=${OUT:-/tmp/eft_out}
mkdir -p "$OUT"
BIN=.devbin
export LD_LIBRARY_PATH=$PWD/.devbin/lib:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
for step in "$@"; do
  echo "=== $step $(date -u +%H:%M:%S)"
  case $step in
    info)
      nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
      nvcc --version | tail -1
      ldd $BIN/eft_gpu_tests | grep -i "not found" || echo "all shared libraries found"
      ;;
    build)
      cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a >"$OUT/cmake.log" 2>&1 &&
        ninja -C build-dev eft_gpu_tests bench_attention_cuda bench_linear_cuda >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
      BIN=build-dev/bin_links; mkdir -p $BIN
      ln -sf ../tests/eft_gpu_tests $BIN/eft_gpu_tests; ln -sf ../bench/bench_attention_cuda $BIN/bench_attention_cuda
      ln -sf ../bench/bench_linear_cuda $BIN/bench_linear_cuda
      ;;
    test)
      # Under a time limit: a wrong mbarrier phase in the warp-specialized loop hangs rather than fails.
      timeout 900 $BIN/eft_gpu_tests --gtest_brief=1 2>&1 | tee "$OUT/gpu_tests.log" | tail -60
      echo "gpu tests exit: ${PIPESTATUS[0]}"
      ;;
    branch-tests)
      # The test binaries of tools/gpu/branch.sh (.devbin/tests/NAME.gz), each under GTEST_FILTER.
      for gz in .devbin/tests/*.gz; do
        [ -e "$gz" ] || continue
        n=$(basename "$gz" .gz)
        gunzip -c "$gz" > "/tmp/t_$n" && chmod +x "/tmp/t_$n"
        echo "--- $n (filter ${GTEST_FILTER:-*})"
        timeout 900 "/tmp/t_$n" --gtest_brief=1 2>&1 | tee "$OUT/gpu_tests_$n.log" | tail -8
        echo "$n tests exit: ${PIPESTATUS[0]}"
      done
      ;;
    sanitize)
      for tool in memcheck racecheck synccheck; do
        filter='CudaAttentionSmall.*:CudaWgmma.BuildingBlocks*:CudaWgmmaWs.SmallForSanitizer:CudaLinearSmall.*:CudaKvCache.*'
        echo "--- compute-sanitizer --tool $tool eft_gpu_tests --gtest_filter=$filter"
        compute-sanitizer --tool $tool $BIN/eft_gpu_tests --gtest_filter="$filter" 2>&1 |
          tee -a "$OUT/sanitizer.log" | grep -E "ERROR SUMMARY|RACECHECK SUMMARY|SYNCCHECK|Hazard|Invalid|PASSED|FAILED" | head -20
      done
      ;;
    ncu)
      # The prefill kernels (wgmma main loop D=128, and mma.sync D=128) and one paged decode kernel
      # (D=128, 4 warps splitting keys): kernel-name regex, then the bench shape that launches it.
      while read -r k args; do
        ncu --clock-control none --kernel-name-base mangled -k regex:$k -c 1 \
          --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
          --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section SchedulerStats \
          $BIN/bench_attention_cuda $args >>"$OUT/ncu.txt" 2>&1
      done <<'SHAPES'
fwd_sm90_kernelI13__nv_bfloat16Li128ELi128E --shape prefill:128:2048:8:0
fwd_kernelI13__nv_bfloat16Li128ELi64ELi4ELi1ELi2E --main-loop mma_sync --shape prefill:128:2048:8:0
Li128ELi64ELi1ELi4ELi1E --shape decode:16:4096:1
SHAPES
      grep -E "Duration|Throughput|Registers|Achieved Occupancy|Theoretical Occupancy|Stall|Issued Warp|No Eligible|Block Limit|Executed Ipc|Pipe" "$OUT/ncu.txt" | head -80
      ;;
    ncu-src)
      # Per-instruction stall samples of one kernel (SourceCounters, WarpStateStats) on one shape,
      # exported as SASS lines with their counters: NCU_K (kernel-name regex), NCU_SHAPE (bench
      # --shape). Files: $OUT/src_*.csv (summarise with tools/gpu/ncu_src.py), .ncu-rep, .txt.
      tag=$(echo "${NCU_SHAPE:?}" | tr ':' '_')
      ncu --clock-control none --kernel-name-base mangled -k "regex:${NCU_K:?}" --launch-skip 2 -c 1 \
        --section SourceCounters --section WarpStateStats --section LaunchStats -f -o "$OUT/src_$tag" \
        $BIN/bench_attention_cuda --shape "$NCU_SHAPE" > "$OUT/src_$tag.log" 2>&1
      tail -3 "$OUT/src_$tag.log"
      ncu -i "$OUT/src_$tag.ncu-rep" --page source --csv --print-source sass > "$OUT/src_$tag.csv" 2>&1
      ncu -i "$OUT/src_$tag.ncu-rep" --page details > "$OUT/src_$tag.txt" 2>&1
      wc -l "$OUT/src_$tag.csv"; head -c 600 "$OUT/src_$tag.csv"; echo
      ;;
    bench) $BIN/bench_attention_cuda --csv "$OUT/ours.csv" 2>&1 | tee "$OUT/bench.log" | tail -5 ;;
    linear) $BIN/bench_linear_cuda --csv "$OUT/linear.csv" 2>&1 | tee "$OUT/linear.log" | tail -12 ;;
    bench-quick) $BIN/bench_attention_cuda --quick --csv "$OUT/ours.csv" 2>&1 | tee "$OUT/bench.log" ;;
    peer) python3 tools/gpu/peer.py --csv "$OUT/peer.csv" 2>&1 | tee "$OUT/peer.log" | tail -5 ;;
    peer-quick) python3 tools/gpu/peer.py --quick --csv "$OUT/peer.csv" 2>&1 | tee "$OUT/peer.log" ;;
    report) python3 tools/gpu/report.py "$OUT/ours.csv" "$OUT/peer.csv" | tee "$OUT/tables.md" ;;
    *) echo "unknown step $step"; exit 2 ;;
  esac
done
