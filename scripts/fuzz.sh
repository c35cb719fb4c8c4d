#!/usr/bin/env bash
# Builds the libFuzzer target for the HTTP/1.1 parser and chunked decoder and runs it.
#   scripts/fuzz.sh [RUNS]     (default 1000000 executions; FUZZ_JOBS=N runs N workers)
# New inputs go to fuzz/corpus-run/ (not committed); fuzz/corpus/ holds the seeds.
# A crash leaves its input in fuzz/crash-* and fails the script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${1:-1000000}"
out=.build/fuzz
mkdir -p "$out" fuzz/corpus-run

# The parser compiles on its own: these files and nothing of the event loop or TLS.
sources=(
  Sources/Pipeline/HTTP1/HTTP1Parser.swift
  Sources/Pipeline/HTTP1/HTTP1RequestHead.swift
  Sources/Pipeline/HTTP1/ChunkedDecoder.swift
  Sources/Pipeline/HTTP1/HTTPLimits.swift
  Sources/Pipeline/HTTP/HTTPFields.swift
  Sources/Pipeline/HTTP/HTTPMethod.swift
  Sources/Pipeline/HTTP/HTTPStatus.swift
  Sources/Pipeline/HTTP/HTTPVersion.swift
  Sources/Pipeline/Util/PercentEncoding.swift
  fuzz/HTTP1ParserFuzz.swift
)
binary="$out/http1-parser-fuzz"
newest="$(ls -t "${sources[@]}" | head -1)"
if [ ! -x "$binary" ] || [ "$newest" -nt "$binary" ]; then
  echo "fuzz: building $binary" >&2
  swiftc -parse-as-library -swift-version 6 -enable-upcoming-feature ExistentialAny \
    -O -g -sanitize=fuzzer,address -module-name HTTP1Fuzz "${sources[@]}" -o "$binary"
fi

echo "fuzz: $runs executions" >&2
"$binary" -runs="$runs" -max_len=8192 -dict=fuzz/http1.dict -artifact_prefix=fuzz/ \
  -print_final_stats=1 ${FUZZ_JOBS:+-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"} fuzz/corpus-run fuzz/corpus
