# Entry points: `make demo` (a streamed reply through the C API, from the bundled emulator)
# and `make test` (the whole suite). Both build with cargo's dev profile into target/debug.
CARGO ?= cargo
CC ?= cc
TARGET_DIR := target/debug
PROMPT ?= 请介绍你自己。

# `make install PREFIX=…` builds with PROFILE (release by default) and installs the shared
# library with its soname links, the static library, both headers and ustb_openai.pc.
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PROFILE ?= release
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)

.PHONY: all build demo deps test bench fuzz install clean sanitize

all: build

build:
	$(CARGO) build --lib --bin ustb-emulator --features emulator
	ln -sf libustb_openai.so $(TARGET_DIR)/libustb_openai.so.0

$(TARGET_DIR)/chat: examples/c/chat.c include/ustb_openai.h build
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Iinclude examples/c/chat.c \
		-L$(TARGET_DIR) -Wl,-rpath,'$$ORIGIN' -lustb_openai -o $@

demo: $(TARGET_DIR)/chat
	@TARGET_DIR=$(TARGET_DIR) sh examples/c/demo.sh "$(PROMPT)"

# Installs the test tools that are missing (see .ci/deps.sh), then runs every test.
deps:
	bash .ci/deps.sh

test: deps
	$(CARGO) test

# Prints throughput (beside its floors and the Python client), concurrency, latency and memory
# figures (release build); asserts nothing. BENCH_RUNS and BENCH_SCALE scale it (BENCHMARKS.md).
BENCH_VENV := target/bench-venv
bench: $(BENCH_VENV)/installed
	$(CARGO) build --release --features emulator --lib --bin ustb-emulator --example bench
	BENCH_PYTHON=$(BENCH_VENV)/bin/python target/release/examples/bench target/release/ustb-emulator

# The Python client users have today, for the benchmark's comparison (pinned versions).
$(BENCH_VENV)/installed: examples/python/bench/requirements.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r $<
	touch $@

# Optional, long: the libFuzzer targets in fuzz/ (needs nightly and cargo-fuzz; see fuzz/README.md).
FUZZ_SECONDS ?= 60
fuzz:
	cd fuzz && for t in sse decode request options; do \
		cargo +nightly fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

install:
	$(CARGO) build --lib $(PROFILE_FLAG)
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 755 target/$(PROFILE)/libustb_openai.so $(DESTDIR)$(LIBDIR)/libustb_openai.so.$(VERSION)
	ln -sf libustb_openai.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libustb_openai.so.$(MAJOR)
	ln -sf libustb_openai.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libustb_openai.so
	install -m 644 target/$(PROFILE)/libustb_openai.a $(DESTDIR)$(LIBDIR)/libustb_openai.a
	install -m 644 include/ustb_openai.h include/ustb_openai.hpp $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' ustb_openai.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/ustb_openai.pc

clean:
	$(CARGO) clean

# The library's unit tests under AddressSanitizer (nightly, no rust-src needed; about 50 s from
# scratch here). Separate target dir, so the normal build is not rebuilt.
sanitize:
	RUSTFLAGS=-Zsanitizer=address CARGO_TARGET_DIR=target/asan $(CARGO) +nightly test --lib --target x86_64-unknown-linux-gnu
