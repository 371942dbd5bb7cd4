#!/usr/bin/env bash
# Installs the newest wheel in dist/ the way a user without a compiler would, and smoke-tests it:
#   tools/wheel-test.sh [PYTHON]     (make wheel-test)
# - a fresh venv outside the repository;
# - pip runs with PATH holding only that venv's bin/ (no gcc, cc, c++, clang, zig, make,
#   cmake), --no-index and --only-binary, so it can only install the wheel, never build;
# - prints how long the install took and the extension's ldd;
# - runs tools/smoke_wheel.py from a temporary folder with the same PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
wheel=$(ls -t dist/asap_native-*manylinux*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  echo "no manylinux wheel in dist/: run make wheel first" >&2
  exit 1
fi
wheel=$(realpath "$wheel")
expected_sqlite=$(sed -n 's/^#define SQLITE_VERSION  *"\(.*\)"/\1/p' third_party/sqlite/sqlite3.h)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/venv"
venv_bin="$work/venv/bin"
bare_path="$venv_bin"
for tool in gcc cc c++ g++ clang zig cmake make; do
  if PATH="$bare_path" command -v "$tool" >/dev/null 2>&1; then
    echo "a compiler or build tool is reachable on the test PATH: $tool" >&2
    exit 1
  fi
done
echo "installing $(basename "$wheel") with PATH=$bare_path (no compiler reachable)"
started=$EPOCHREALTIME
env -i HOME="$HOME" PATH="$bare_path" "$venv_bin/python" -m pip install -q --no-index \
  --only-binary :all: --disable-pip-version-check "$wheel"
finished=$EPOCHREALTIME
awk "BEGIN { printf \"install took %.2f s\\n\", $finished - $started }"

extension=$("$venv_bin/python" -c "import asap_native._core as c; print(c.__file__)")
echo "ldd $(basename "$extension"):"
ldd "$extension" | sed 's/^/  /'

cp tools/smoke_wheel.py "$work/"
(cd "$work" && env -i HOME="$HOME" PATH="$bare_path" "$venv_bin/python" smoke_wheel.py \
  --expect-sqlite "$expected_sqlite")
