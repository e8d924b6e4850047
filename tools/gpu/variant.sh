#!/usr/bin/env bash
# Builds an A/B variant of bench_attention_cuda with ONE CUDA source changed by a sed expression,
# without touching the tree: the changed copy is compiled with the build's own nvcc command, put
# into a copy of libeft_cuda.a and linked; the binary lands gzipped (~4 MB) in .devbin/var/NAME.gz
# for tools/gpu/ab.sh to run beside the tree's binary in one device call.
#   tools/gpu/variant.sh NAME FILE 'sed-expression' [BUILD_DIR]
#   e.g. tools/gpu/variant.sh pp0 src/attention/cuda/fwd_sm90_ws.cu 's/kPingPong = true/kPingPong = false/'
# BUILD_DIR (default build-cuda): a configured Ninja build (cmake -G Ninja, CUDA on); the script
# brings its bench_attention_cuda up to date with the tree first.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,10p "$0"; exit 2; }
name=$1 file=$2 expr=$3 build=${4:-build-cuda}
root=$(git rev-parse --show-toplevel)
src=$root/$file
[ -f "$src" ] || { echo "variant.sh: no such source file: $file" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "$expr" "$src" > "$work/$(basename "$file")"
if cmp -s "$src" "$work/$(basename "$file")"; then
  echo "variant.sh: the sed expression changed nothing in $file" >&2
  exit 2
fi
cd "$root/$build"
ninja bench_attention_cuda >/dev/null  # the library and link line must match the tree
compile=$(ninja -t commands eft_cuda | grep -F -- "-c $src " | tail -1 || true)
[ -n "$compile" ] || { echo "variant.sh: no compile command for $file in $build" >&2; exit 2; }
compile=${compile//"$src"/"$work/$(basename "$file")"}
obj=CMakeFiles/eft_cuda.dir/$file.o
compile=${compile//"-o $obj"/"-o $work/variant.o"}
compile=$(sed 's# -MD -MT [^ ]* -MF [^ ]*##' <<<"$compile")
(cd "$root/$build" && eval "$compile -I$root/src -I$(dirname "$src")") 2>&1 | grep -E "error|spill" || true
[ -f "$work/variant.o" ] || { echo "variant.sh: compile failed" >&2; exit 1; }
cp libeft_cuda.a "$work/libeft_cuda.a"
member=$(basename "$file").o
(cd "$work" && cp variant.o "$member" && ar d libeft_cuda.a "$member" && ar r libeft_cuda.a "$member")
link=$(ninja -t commands bench_attention_cuda | tail -1 || true)
link=${link//" libeft_cuda.a "/" $work/libeft_cuda.a "}
link=${link//"-o bench/bench_attention_cuda"/"-o $work/bench"}
eval "$link"
strip --strip-debug "$work/bench"
mkdir -p "$root/.devbin/var"
gzip -c "$work/bench" > "$root/.devbin/var/$name.gz"
ls -la "$root/.devbin/var/$name.gz"
