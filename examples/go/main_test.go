package ustb_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// emulatorURL is the base URL of the emulator TestMain starts for the whole run.
var emulatorURL string

// atExit holds what TestMain runs after the tests, e.g. killing emulators tests started.
var atExit []func()

// TestMain starts one ustb-emulator child on port 0 (USTB_EMULATOR, or the debug build of
// this repository), runs the tests against it and kills it. A missing emulator fails the
// run: these tests never skip.
func TestMain(m *testing.M) {
	cmd, url, err := startEmulator(emulatorBin())
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the emulator:", err)
		os.Exit(1)
	}
	emulatorURL = url
	code := m.Run()
	for _, f := range atExit {
		f()
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	os.Exit(code)
}

// emulatorBin is USTB_EMULATOR, or the debug build of this repository.
func emulatorBin() string {
	if bin := os.Getenv("USTB_EMULATOR"); bin != "" {
		return bin
	}
	return filepath.Join("..", "..", "target", "debug", "ustb-emulator")
}

// startEmulator runs bin on a free port and reads its one "listening on URL" line.
func startEmulator(bin string, args ...string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin, append([]string{"--port", "0"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		s, _ := r.ReadString('\n')
		line <- s
		_, _ = r.WriteTo(io.Discard) // keep draining so the child never blocks on stdout
	}()
	select {
	case s := <-line:
		const prefix = "ustb-emulator listening on "
		if url, ok := strings.CutPrefix(strings.TrimSpace(s), prefix); ok {
			return cmd, url, nil
		}
		err = fmt.Errorf("unexpected first line %q", s)
	case <-time.After(10 * time.Second):
		err = fmt.Errorf("no address line within 10 s")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, "", err
}
