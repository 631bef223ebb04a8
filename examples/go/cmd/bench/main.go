// Command bench measures the Go wrapper's streaming rate for `make bench`
// (examples/rust/bench.rs): it reads one reply through Stream.Recv, every chunk decoded into
// a ChatCompletionChunk as a user gets it, once to warm up and then RUNS times, and prints
//
//	chunks N
//	chunks/s MEDIAN
//	cpu-chunks/s MEDIAN
//
// by wall clock, then per CPU-second of the whole process (every thread: the GC's too).
// Usage: bench BASE_URL [RUNS]. The server is bench.rs's canned one, which replays the same
// captured reply to every request.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"

	ustb "github.com/ustb-openai/ustb-openai/examples/go"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench BASE_URL [RUNS]")
		os.Exit(2)
	}
	runs := 7
	if len(os.Args) > 2 {
		n, err := strconv.Atoi(os.Args[2])
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "bench: RUNS must be a positive integer")
			os.Exit(2)
		}
		runs = n
	}
	if err := run(os.Args[1], runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(baseURL string, runs int) error {
	client, err := ustb.NewClient(ustb.Options{BaseURL: baseURL, VJUIDLogin: "bench"})
	if err != nil {
		return err
	}
	defer client.Close()
	chunks, err := read(client) // warm-up: connection, first allocations
	if err != nil {
		return err
	}
	var rates, cpuRates []float64
	for i := 0; i < runs; i++ {
		start, cpu := time.Now(), cpuSeconds()
		n, err := read(client)
		if err != nil {
			return err
		}
		if n != chunks {
			return fmt.Errorf("run %d read %d chunks, the warm-up %d", i, n, chunks)
		}
		cpuRates = append(cpuRates, float64(n)/(cpuSeconds()-cpu))
		rates = append(rates, float64(n)/time.Since(start).Seconds())
	}
	fmt.Printf("chunks %d\nchunks/s %.0f\ncpu-chunks/s %.0f\n", chunks, median(rates), median(cpuRates))
	return nil
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// cpuSeconds is the user + system CPU time of the whole process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// read streams one reply and returns its chunk count. The usage chunk is asked for, as the
// C API side of the benchmark does, so both count the same chunks.
func read(client *ustb.Client) (int, error) {
	stream, err := client.CreateChatCompletionStream(context.Background(), ustb.ChatCompletionRequest{
		Messages:      []ustb.ChatCompletionMessage{{Role: ustb.RoleUser, Content: "bench"}},
		StreamOptions: &ustb.StreamOptions{IncludeUsage: true},
	})
	if err != nil {
		return 0, err
	}
	defer stream.Close()
	n, text := 0, 0
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
		n++
		for _, ch := range chunk.Choices {
			text += len(ch.Delta.Content) // touch the delta, as a reader would
		}
	}
	if text == 0 {
		return n, errors.New("the reply carried no content")
	}
	return n, nil
}
