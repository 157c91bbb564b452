#!/usr/bin/env bash
# Shared set-up for scripts/run, scripts/test and scripts/bench (sourced, not run).
#
#   iisearch_setup EXTRAS   creates .venv if missing and installs the project with EXTRAS,
#                           plus the llama.cpp backend built once and kept in a cache
#                           OUTSIDE the clone, so fresh clones on this machine reuse it.
#
# Environment: PYTHON (interpreter, default python3), IISEARCH_BUILD_CACHE (default
# ~/.cache/iisearch-local/build), CMAKE_ARGS (extra llama.cpp build flags).
set -euo pipefail

IISEARCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IISEARCH_VENV="$IISEARCH_ROOT/.venv"
IISEARCH_BUILD_CACHE=${IISEARCH_BUILD_CACHE:-"${XDG_CACHE_HOME:-$HOME/.cache}/iisearch-local/build"}
# Keep in step with the llama-cpp-python pin in pyproject.toml.
LLAMA_CPP_VERSION=0.3.36

_say() { printf '[setup] %s\n' "$*" >&2; }

_platform_flavour() {
  if [[ "$(uname -s)" == Darwin && "$(uname -m)" == arm64 ]]; then echo metal
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then echo cuda
  else echo cpu; fi
}

# Download the llama-cpp-python sdist once; the tests also read files vendored in it.
_llama_sdist() {
  local dir="$IISEARCH_BUILD_CACHE/sdist" file
  file="$dir/llama_cpp_python-$LLAMA_CPP_VERSION.tar.gz"
  if [[ ! -s "$file" ]]; then
    _say "downloading llama-cpp-python $LLAMA_CPP_VERSION source"
    mkdir -p "$dir"
    "$IISEARCH_VENV/bin/pip" download -q --no-deps --no-binary :all: \
      "llama-cpp-python==$LLAMA_CPP_VERSION" -d "$dir"
  fi
  echo "$file"
}

# Build the llama-cpp-python wheel for this machine once (about 6 minutes on 2 cores).
_llama_wheel_dir() {
  local flavour dir sdist
  flavour=$(_platform_flavour)
  dir="$IISEARCH_BUILD_CACHE/wheels-$flavour"
  if ! ls "$dir"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
    sdist=$(_llama_sdist)
    local flags="-DGGML_NATIVE=OFF"
    [[ "$flavour" == cuda ]] && flags="$flags -DGGML_CUDA=on"
    _say "building llama-cpp-python $LLAMA_CPP_VERSION ($flavour); this happens once per machine"
    mkdir -p "$dir"
    CMAKE_ARGS="$flags ${CMAKE_ARGS:-}" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)} \
      "$IISEARCH_VENV/bin/pip" wheel -q --no-deps -w "$dir.tmp" "$sdist"
    mv "$dir.tmp"/llama_cpp_python-*.whl "$dir/" && rmdir "$dir.tmp"
  fi
  echo "$dir"
}

# The llama.cpp sources vendored in the sdist: vocab files and the reference converter (with
# its conversion/ package) for tests.
iisearch_llama_src() {
  local dest="$IISEARCH_BUILD_CACHE/llama.cpp-src-$LLAMA_CPP_VERSION" sdist
  if [[ ! -f "$dest/.complete" || ! -d "$dest/conversion" ]]; then
    sdist=$(_llama_sdist)
    rm -rf "$dest" "$dest.tmp" && mkdir -p "$dest.tmp"
    tar -xzf "$sdist" -C "$dest.tmp" --strip-components=3 \
      "llama_cpp_python-$LLAMA_CPP_VERSION/vendor/llama.cpp/models" \
      "llama_cpp_python-$LLAMA_CPP_VERSION/vendor/llama.cpp/gguf-py" \
      "llama_cpp_python-$LLAMA_CPP_VERSION/vendor/llama.cpp/conversion" \
      "llama_cpp_python-$LLAMA_CPP_VERSION/vendor/llama.cpp/convert_hf_to_gguf.py"
    touch "$dest.tmp/.complete" && mv "$dest.tmp" "$dest"
  fi
  echo "$dest"
}

iisearch_setup() {
  local extras=$1 need_llama=$2 stamp wheels="" want
  cd "$IISEARCH_ROOT"
  if [[ ! -x "$IISEARCH_VENV/bin/python" ]]; then
    _say "creating $IISEARCH_VENV"
    "${PYTHON:-python3}" -m venv "$IISEARCH_VENV"
  fi
  if [[ "$need_llama" == yes ]]; then wheels=$(_llama_wheel_dir); fi
  # Re-install only when the dependency list or the requested extras change.
  want="$extras $(cat pyproject.toml | cksum)"
  stamp="$IISEARCH_VENV/.iisearch-installed"
  if [[ ! -f "$stamp" ]] || ! grep -qxF "$want" "$stamp"; then
    _say "installing iisearch-local[$extras]"
    "$IISEARCH_VENV/bin/pip" install -q --disable-pip-version-check \
      ${wheels:+--find-links "$wheels"} -e ".[$extras]"
    echo "$want" >> "$stamp"
  fi
}

# llama.cpp's reference converter imports torch. Install it for the equality test only when a
# CPU wheel lies in pip's local find-links folder (as on our CI machines): from PyPI, plain
# `torch` is a multi-GB CUDA build. Elsewhere that test skips and says why.
iisearch_optional_torch() {
  local dir wheel=""
  for dir in ${PIP_FIND_LINKS:-} $("$IISEARCH_VENV/bin/pip" config get global.find-links 2>/dev/null || true); do
    [[ -d "$dir" ]] && wheel=$(ls "$dir"/torch-*+cpu-*.whl 2>/dev/null | head -n 1)
    [[ -n "$wheel" ]] && break
  done
  if [[ -n "$wheel" ]] && ! "$IISEARCH_VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    _say "installing the local CPU torch wheel for the reference-converter test"
    "$IISEARCH_VENV/bin/pip" install -q --disable-pip-version-check "$wheel"
  fi
}
