#!/usr/bin/env bash
# The C++ consumer test: examples/c/consumer-test.sh does both (same steps, same checks).
exec bash "$(dirname "$0")/../c/consumer-test.sh" cpp
