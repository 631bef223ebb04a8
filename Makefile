# Entry points: `make demo` (a streamed reply through the C API, from the bundled emulator)
# and `make test` (the whole suite). Both build with cargo's dev profile into target/debug.
CARGO ?= cargo
CC ?= cc
TARGET_DIR := target/debug
PROMPT ?= 请介绍你自己。

# `make install PREFIX=…` builds with PROFILE (release by default) and installs: the shared
# library with its soname links, the static library, both headers, ustb_openai.pc, the CMake
# package (find_package(ustb_openai)), and in bin/ `ustb-emulator` (built with the emulator
# feature, which the installed library is built without) and `ustb-chat` (examples/c/chat.c).
# The builds go to INSTALL_TARGET_DIR, so they never replace the library in target/debug.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
CMAKEDIR ?= $(LIBDIR)/cmake/ustb_openai
PROFILE ?= release
INSTALL_TARGET_DIR ?= target/install
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)

.PHONY: all build demo demo-login deps test bench fuzz install clean sanitize

all: build

build:
	$(CARGO) build --lib --bin ustb-emulator --features emulator
	ln -sf libustb_openai.so $(TARGET_DIR)/libustb_openai.so.0

$(TARGET_DIR)/ustb-chat: examples/c/chat.c include/ustb_openai.h build
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Iinclude examples/c/chat.c \
		-L$(TARGET_DIR) -Wl,-rpath,'$$ORIGIN' -lustb_openai -o $@

demo: $(TARGET_DIR)/ustb-chat
	@TARGET_DIR=$(TARGET_DIR) sh examples/c/demo.sh "$(PROMPT)"

# The same, after a QR code login through the emulator's SSO (`ustb-chat --login`).
demo-login: $(TARGET_DIR)/ustb-chat
	@TARGET_DIR=$(TARGET_DIR) sh examples/c/demo.sh --login "$(PROMPT)"

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
	cd fuzz && for t in sse decode request options tools; do \
		cargo +nightly fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

# What the static library needs besides itself (`cargo rustc --lib --crate-type staticlib --
# --print native-static-libs`): Libs.private in the .pc and the CMake static target's link list.
STATIC_LIBS := gcc_s util rt pthread m dl c
# Directories the dynamic loader searches (once `ldconfig` has run): a library there needs no
# rpath. Any other LIBDIR gets `-Wl,-rpath,${libdir}` in the .pc, so that what pkg-config links
# also starts, with no LD_LIBRARY_PATH.
SYSTEM_LIBDIRS := /lib /lib64 /usr/lib /usr/lib64 /usr/local/lib \
	$(addprefix /usr/lib/,$(shell $(CC) -print-multiarch 2>/dev/null))
SYSTEM_LIBDIR := $(filter $(SYSTEM_LIBDIRS),$(abspath $(LIBDIR)))
comma := ,
PC_RPATH := $(if $(SYSTEM_LIBDIR),,-Wl$(comma)-rpath$(comma)$${libdir} )
INSTALL_OUT := $(INSTALL_TARGET_DIR)/$(PROFILE)

install:
	CARGO_TARGET_DIR=$(INSTALL_TARGET_DIR) $(CARGO) build $(PROFILE_FLAG) --bin ustb-emulator --features emulator
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(INSTALL_OUT)/ustb-emulator $(DESTDIR)$(BINDIR)/ustb-emulator
	@# This build replaces the emulator build's library with one without the emulator.
	CARGO_TARGET_DIR=$(INSTALL_TARGET_DIR) $(CARGO) build $(PROFILE_FLAG) --lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(INSTALL_OUT)/libustb_openai.so $(DESTDIR)$(LIBDIR)/libustb_openai.so.$(VERSION)
	ln -sf libustb_openai.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libustb_openai.so.$(MAJOR)
	ln -sf libustb_openai.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libustb_openai.so
	install -m 644 $(INSTALL_OUT)/libustb_openai.a $(DESTDIR)$(LIBDIR)/libustb_openai.a
	install -m 644 include/ustb_openai.h include/ustb_openai.hpp $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' -e 's|@RPATH@|$(PC_RPATH)|' \
		-e 's|@STATIC_LIBS@|$(addprefix -l,$(STATIC_LIBS))|' \
		ustb_openai.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/ustb_openai.pc
	@# The CMake files find the library relative to themselves, so a staged tree works too.
	for f in ustb_openaiConfig ustb_openaiConfigVersion; do \
		sed -e 's|@VERSION@|$(VERSION)|' -e 's|@MAJOR@|$(MAJOR)|' \
			-e 's|@STATIC_LIBS@|$(subst $() ,;,$(STATIC_LIBS))|' \
			-e "s|@CMAKE_TO_LIBDIR@|$$(realpath -m --relative-to=$(CMAKEDIR) $(LIBDIR))|" \
			-e "s|@CMAKE_TO_INCLUDEDIR@|$$(realpath -m --relative-to=$(CMAKEDIR) $(INCLUDEDIR))|" \
			cmake/$$f.cmake.in > $(DESTDIR)$(CMAKEDIR)/$$f.cmake || exit 1; done
	@# ustb-chat finds the library relative to itself.
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -Iinclude examples/c/chat.c \
		-L$(INSTALL_OUT) -Wl,-rpath,'$$ORIGIN/$(shell realpath -m --relative-to=$(BINDIR) $(LIBDIR))' \
		-lustb_openai -o $(INSTALL_OUT)/ustb-chat
	install -m 755 $(INSTALL_OUT)/ustb-chat $(DESTDIR)$(BINDIR)/ustb-chat
ifeq ($(if $(SYSTEM_LIBDIR),,no)$(DESTDIR),)
	@# A system directory, installed for real (not staged): refresh the loader's cache.
	if [ "$$(id -u)" -eq 0 ]; then ldconfig; \
	else echo "make install: run 'sudo ldconfig' so programs find libustb_openai.so.$(MAJOR)" >&2; fi
endif

clean:
	$(CARGO) clean

# The library's unit tests under AddressSanitizer (nightly, no rust-src needed; about 50 s from
# scratch here). Separate target dir, so the normal build is not rebuilt.
sanitize:
	RUSTFLAGS=-Zsanitizer=address CARGO_TARGET_DIR=target/asan $(CARGO) +nightly test --lib --target x86_64-unknown-linux-gnu
