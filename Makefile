# SPDX-License-Identifier: GPL-2.0-or-later
#
# Front door of the standalone build (meson does the work):
#
#   make deps    install the Debian packages the build needs (once)
#   make build   deps + configure and compile in build/
#   make check   deps + build + every test, ending with "N passed, M failed"
#   make check32 the same in build-32/, with a 32-bit host's bucket size
#                and cap forced (meson -Dmapcache_long_bits=32)
#   make bench   deps + build + the benchmark's workloads
#   make asan    the tests under AddressSanitizer + UBSan, in build-asan/
#   make tsan    the tests under ThreadSanitizer, in build-tsan/
#   make fuzz    the fuzz driver's regressions, then SECONDS (default 60)
#                of random cases, under ASan + UBSan in build-asan/
#   make clean   remove the build directories

SHELL := /bin/bash
, := ,

DEBS := libxen-dev libglib2.0-dev liburcu-dev meson ninja-build pkg-config \
        gcc python3 python3-sphinx
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

SUMMARY := python3 scripts/test-summary.py
MESON_TEST := meson test --print-errorlogs

ASAN_ENV := ASAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
TSAN_SUPP := $(CURDIR)/qemu-standin/tsan.supp
TSAN_ENV := TSAN_OPTIONS=suppressions=$(TSAN_SUPP):halt_on_error=1:exitcode=66

# The fuzz suite runs only through "make fuzz": its regression cases fail
# until the core follows the round's answers (fuzz/README.md).
NO_FUZZ := --no-suite fuzz
SECONDS ?= 60
# make fuzz's log, kept apart from make asan's: test-summary.py reads
# DIR/meson-logs/testlog.json, so it gets a directory of its own.
FUZZ_LOG := build-asan/fuzz-log

.PHONY: all deps build check check32 bench asan tsan fuzz clean

all: build

# Install only what is missing; apt-get update only when something is.
deps:
	@missing=$$(for p in $(DEBS); do \
	    dpkg-query -W -f='$${db:Status-Status}' "$$p" 2>/dev/null | \
	        grep -qx installed || echo "$$p"; \
	done); \
	if [ -n "$$missing" ]; then \
	    echo "Installing:" $$missing; \
	    $(SUDO) apt-get update -q && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -q --no-install-recommends $$missing; \
	fi

# $(call setup,DIR,OPTIONS): configure DIR unless it already is.
define setup
	@if [ ! -f $(1)/build.ninja ]; then meson setup $(1) $(2); fi
	meson compile -C $(1)
endef

# $(call run-tests,DIR,ENV,ARGS): run DIR's tests, then count them.
define run-tests
	rm -f $(1)/meson-logs/testlog.json
	-$(2) $(MESON_TEST) -C $(1) $(3)
	@$(SUMMARY) $(1)
endef

build: deps
	$(call setup,build,)

check: build
	$(call run-tests,build,,$(NO_FUZZ))

check32: deps
	$(call setup,build-32,-Dmapcache_long_bits=32)
	$(call run-tests,build-32,,$(NO_FUZZ))

bench: build
	build/bench/xen-mapcache-bench

asan: deps
	$(call setup,build-asan,-Db_sanitize=address$(,)undefined -Db_lundef=false)
	$(call run-tests,build-asan,$(ASAN_ENV),--timeout-multiplier 3 $(NO_FUZZ))

tsan: deps
	$(call setup,build-tsan,-Db_sanitize=thread)
	$(call run-tests,build-tsan,$(TSAN_ENV),--timeout-multiplier 3 $(NO_FUZZ))

fuzz: deps
	$(call setup,build-asan,-Db_sanitize=address$(,)undefined -Db_lundef=false)
	rm -rf $(FUZZ_LOG) && mkdir -p $(FUZZ_LOG)/meson-logs
	-$(ASAN_ENV) XEN_MAPCACHE_FUZZ_SECONDS=$(SECONDS) \
	    $(MESON_TEST) -C build-asan --suite fuzz --logbase fuzzlog
	cp build-asan/meson-logs/fuzzlog.json $(FUZZ_LOG)/meson-logs/testlog.json
	@$(SUMMARY) $(FUZZ_LOG)

clean:
	rm -rf build build-32 build-asan build-tsan

# The end-to-end tests (fake-xen-host/, e2e/): a simulated Xen host
# under a real QEMU.  make check runs them against Debian's
# qemu-system-xen; these run them against any binary:
#
#   make e2e QEMU=/path/to/qemu-system-i386 [ACCEL=mapcache-max-size=64M]
#            [MACHINE_OPTS=mapcache-max-size=64M]
#   make e2e-bench QEMU=/path/to/qemu-system-i386 [BASELINE="other ..."]
DEBS += qemu-system-xen binutils util-linux
QEMU ?= /usr/libexec/xen-qemu-system-i386
E2E_LOG := build/e2e-log
E2E_HOST := build/fake-xen-host
RUNS ?= 3

.PHONY: e2e e2e-bench

e2e: build
	rm -rf $(E2E_LOG) && mkdir -p $(E2E_LOG)/meson-logs
	-XEN_E2E_QEMU=$(QEMU) XEN_E2E_ACCEL=$(ACCEL) \
	    XEN_E2E_MACHINE_OPTS=$(MACHINE_OPTS) \
	    $(MESON_TEST) -C build --suite e2e \
	    --logbase e2elog
	cp build/meson-logs/e2elog.json $(E2E_LOG)/meson-logs/testlog.json
	@$(SUMMARY) $(E2E_LOG)

e2e-bench: build
	build/e2e/xen-e2e --bench --qemu $(QEMU) \
	    $(foreach b,$(BASELINE),--baseline $(b)) --runs $(RUNS) \
	    --host-dir $(E2E_HOST) --run-dir build/e2e/bench-run
