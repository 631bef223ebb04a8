# Entry points: `make demo` (a streamed reply through the C API, from the bundled emulator)
# and `make test` (the whole suite). Both build with cargo's dev profile into target/debug.
CARGO ?= cargo
CC ?= cc
TARGET_DIR := target/debug
PROMPT ?= 请介绍你自己。

.PHONY: all build demo test clean

all: build

build:
	$(CARGO) build --lib --bin ustb-emulator
	ln -sf libustb_openai.so $(TARGET_DIR)/libustb_openai.so.0

$(TARGET_DIR)/chat: examples/c/chat.c include/ustb_openai.h build
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Iinclude examples/c/chat.c \
		-L$(TARGET_DIR) -Wl,-rpath,'$$ORIGIN' -lustb_openai -o $@

demo: $(TARGET_DIR)/chat
	@TARGET_DIR=$(TARGET_DIR) sh examples/c/demo.sh "$(PROMPT)"

test:
	$(CARGO) test

clean:
	$(CARGO) clean
