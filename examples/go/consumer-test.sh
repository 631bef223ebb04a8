#!/bin/sh
# Uses the Go package the way a user's project does (README "Install"): a fresh module in
# USTB_WORK requires it (+ replace to this checkout while it is unpublished), cgo finds the
# library installed in USTB_PREFIX through pkg-config. Runs `go vet` and the package's own tests
# from that module, then builds a 10-line consumer and runs it against the installed emulator
# with no LD_LIBRARY_PATH. Last line: "go: consumer passed".
#   USTB_PREFIX  a `make install PREFIX=…` prefix     USTB_WORK  an empty directory outside the tree
#   USTB_ROOT    this repository's root
set -eu
fail() { echo "go: consumer FAILED: $*" >&2; exit 1; }
[ -n "${USTB_PREFIX:-}" ] && [ -n "${USTB_WORK:-}" ] && [ -n "${USTB_ROOT:-}" ] ||
    fail "set USTB_PREFIX, USTB_WORK and USTB_ROOT"

PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null 2>&1 || fail "the Go toolchain is missing (install Go >= 1.26 into /usr/local/go)"
command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || fail "no C compiler for cgo (apt-get install gcc)"
command -v pkg-config >/dev/null 2>&1 || fail "no pkg-config (apt-get install pkg-config)"
[ -x "$USTB_PREFIX/bin/ustb-emulator" ] || fail "no $USTB_PREFIX/bin/ustb-emulator (make install PREFIX=$USTB_PREFIX)"
# A build cache of its own, as a new user has: Go's cache does not key on pkg-config's output
# (`go help cache`), so a shared one could hand back the package built against another
# library directory (this checkout's, or an earlier run's deleted prefix).
export GOTOOLCHAIN=local CGO_ENABLED=1 GOCACHE=$USTB_WORK/go-cache

mod=github.com/ustb-openai/ustb-openai/examples/go
app=$USTB_WORK/go-consumer
mkdir -p "$app"
cd "$app"

# The README's install lines, as a user types them (PREFIX is not a system prefix here). The
# installed .pc carries `-Wl,-rpath,${libdir}` for such a prefix, so hello starts as it is.
PREFIX=$USTB_PREFIX
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
go mod init example.com/hello
go mod edit -require=github.com/ustb-openai/ustb-openai/examples/go@v0.1.0 \
    -replace=github.com/ustb-openai/ustb-openai/examples/go="$USTB_ROOT"/examples/go

cat >main.go <<'EOF'
package main

import (
	"context"
	"fmt"
	"os"

	ustb "github.com/ustb-openai/ustb-openai/examples/go"
)

func main() {
	c, err := ustb.NewClient(ustb.Options{BaseURL: os.Args[1], VJUIDLogin: "demo"})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	r, err := c.CreateChatCompletion(context.Background(), ustb.ChatCompletionRequest{
		Model:    "deepseek-r1",
		Messages: []ustb.ChatCompletionMessage{{Role: ustb.RoleUser, Content: "你好"}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("library %s: %s\n", ustb.Version(), r.Choices[0].Message.Content)
}
EOF

echo "== pkg-config --cflags --libs ustb_openai: $(pkg-config --cflags --libs ustb_openai)"
echo "== go vet $mod (from $app)"
go vet . "$mod" || fail "go vet"
echo "== go test $mod (from $app)"
USTB_EMULATOR=$PREFIX/bin/ustb-emulator go test -count=1 "$mod" || fail "the package's tests"
go build -o hello . || fail "go build"
ldd ./hello | grep ustb_openai || fail "hello does not link libustb_openai"

. "$USTB_ROOT/examples/emulator.sh"
start_emulator "$PREFIX/bin/ustb-emulator" || fail "the emulator printed no address"

reply=$(./hello "$url") || fail "the consumer failed: $reply"
echo "$reply"
case $reply in *你好*) ;; *) fail "the reply does not contain 你好" ;; esac
echo "go: consumer passed"
