#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for RUNS executions.
#   scripts/fuzz.sh [RUNS] [TARGET...]   (default 1000000 executions each; every target;
#                                         FUZZ_JOBS=N runs N workers per target)
# Targets: http1 (HTTP/1.1 parser and chunked decoder), json (the strict JSON parser behind
# pipeline.json and JWT/JWKS), h2 (frames and HPACK through an nghttp2 server session into
# HTTP2RequestHead with small listener limits), proxy (the PROXY protocol v1/v2 header parser),
# jwt (JWT parsing, algorithm pinning, signature and claim checks, JWKS keys; links libcrypto),
# openpgp (ASCII armor, packets, keys, signatures, a verification; links libcrypto).
# New inputs go to fuzz/corpus-run/<target>/ (not committed); fuzz/corpus/ (http1) and
# fuzz/corpus-<target>/ hold the seeds. A crash leaves its input in fuzz/crash-* and fails the script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${1:-1000000}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http1 json h2 proxy jwt openpgp)
out=.build/fuzz
mkdir -p "$out"

http_sources=(
  Sources/Pipeline/HTTP1/HTTP1RequestHead.swift
  Sources/Pipeline/HTTP1/HTTPLimits.swift
  Sources/Pipeline/HTTP/HTTPFields.swift
  Sources/Pipeline/HTTP/HTTPMethod.swift
  Sources/Pipeline/HTTP/HTTPStatus.swift
  Sources/Pipeline/HTTP/HTTPVersion.swift
  Sources/Pipeline/Util/PercentEncoding.swift
)

for target in "${targets[@]}"; do
  extra=(); seeds=(); options=(-max_len=8192)
  case "$target" in
    http1)
      # The parser compiles on its own: these files and nothing of the event loop or TLS.
      sources=(Sources/Pipeline/HTTP1/HTTP1Parser.swift Sources/Pipeline/HTTP1/ChunkedDecoder.swift "${http_sources[@]}" fuzz/HTTP1ParserFuzz.swift)
      seeds=(fuzz/corpus); options+=(-dict=fuzz/http1.dict) ;;
    json)
      sources=(Sources/Pipeline/JSON/*.swift Sources/Pipeline/Util/PercentEncoding.swift fuzz/JSONParserFuzz.swift)
      seeds=(fuzz/corpus-json); options+=(-dict=fuzz/json.dict) ;;
    h2)
      sources=(Sources/Pipeline/HTTP2/HTTP2RequestHead.swift "${http_sources[@]}" fuzz/HTTP2HeadFuzz.swift)
      extra=(-I Sources/CNghttp2 -lnghttp2)
      seeds=(fuzz/corpus-h2) ;;
    proxy)
      sources=(Sources/Pipeline/Server/ProxyHeader.swift Sources/Pipeline/Util/CRC32C.swift Sources/Pipeline/Engine/SocketAddress.swift
               Sources/Pipeline/Util/SystemError.swift fuzz/ProxyHeaderFuzz.swift)
      seeds=(fuzz/corpus-proxy); options=(-max_len=512) ;;
    jwt)
      sources=(Sources/Pipeline/Crypto/{JWT,JWTVerifier,JWKSet,PublicKey,PrivateKey,SignatureAlgorithm,Base64,CryptoError,DER,MemoryBIO}.swift
               Sources/Pipeline/TLS/OpenSSLError.swift Sources/Pipeline/Util/{Log,WallClock,PercentEncoding}.swift Sources/Pipeline/JSON/*.swift
               fuzz/JWTFuzz.swift)
      extra=(-I Sources/COpenSSL -lcrypto)
      seeds=(fuzz/corpus-jwt); options+=(-dict=fuzz/jwt.dict) ;;
    openpgp)
      sources=(Sources/Pipeline/Crypto/*.swift Sources/Pipeline/TLS/OpenSSLError.swift Sources/Pipeline/Util/{Log,WallClock,PercentEncoding}.swift
               Sources/Pipeline/JSON/*.swift fuzz/OpenPGPFuzz.swift)
      extra=(-I Sources/COpenSSL -lcrypto)
      seeds=(fuzz/corpus-openpgp); options+=(-dict=fuzz/openpgp.dict) ;;
    *) echo "fuzz: unknown target $target (http1, json, h2, proxy, jwt, openpgp)" >&2; exit 2 ;;
  esac
  binary="$out/$target-fuzz"
  newest="$(ls -t "${sources[@]}" | head -1)"
  if [ ! -x "$binary" ] || [ "$newest" -nt "$binary" ]; then
    echo "fuzz: building $binary" >&2
    swiftc -parse-as-library -swift-version 6 -enable-upcoming-feature ExistentialAny \
      -O -g -sanitize=fuzzer,address -module-name "Fuzz_$target" "${extra[@]}" "${sources[@]}" -o "$binary"
  fi
  mkdir -p "fuzz/corpus-run/$target"
  echo "fuzz: $target, $runs executions" >&2
  "$binary" -runs="$runs" "${options[@]}" -artifact_prefix=fuzz/ \
    -print_final_stats=1 ${FUZZ_JOBS:+-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"} "fuzz/corpus-run/$target" "${seeds[@]}"
done
