#!/usr/bin/env bash
# Builds an A/B variant of bench_attention_cuda with ONE source of eft_cuda (a .cu, or a .cpp such as
# plan.cpp) changed by a sed expression or replaced by another file,
# without touching the tree: the changed copy is compiled with the build's own nvcc command, put
# into a copy of libeft_cuda.a and linked; the binary lands gzipped (~4 MB) in .devbin/var/NAME.gz
# for tools/gpu/ab.sh to run beside the tree's binary in one device call.
#   tools/gpu/variant.sh NAME FILE 'sed-expression' [BUILD_DIR]
#   tools/gpu/variant.sh NAME FILE @OTHER_FILE [BUILD_DIR]   (the variant is OTHER_FILE's text, e.g. the
#                                                          file as it was before a change: A/B old vs new)
#   e.g. tools/gpu/variant.sh pp0 src/attention/cuda/fwd_sm90_ws.cu 's/kPingPong = true/kPingPong = false/'
# BUILD_DIR (default build-cuda): a configured Ninja build (cmake -G Ninja, CUDA on); the script
# brings its bench_attention_cuda up to date with the tree first.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,12p "$0"; exit 2; }
name=$1 file=$2 expr=$3 build=${4:-build-cuda}
root=$(git rev-parse --show-toplevel)
src=$root/$file
[ -f "$src" ] || { echo "variant.sh: no such source file: $file" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "${expr:0:1}" = "@" ]; then
  cp "${expr:1}" "$work/$(basename "$file")"
else
  sed "$expr" "$src" > "$work/$(basename "$file")"
fi
if cmp -s "$src" "$work/$(basename "$file")"; then
  echo "variant.sh: the variant of $file is the same as the tree's" >&2
  exit 2
fi
cd "$root/$build"
ninja bench_attention_cuda >/dev/null  # the library and link line must match the tree
compile=$(ninja -t commands eft_cuda | grep -E -- "-c $src( |\$)" | tail -1 || true)  # nvcc: -c SRC -o OBJ; c++: -o OBJ -c SRC
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
