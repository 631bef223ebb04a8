package ustb

/*
#include <stdint.h>
#include "ustb_openai.h"

// ustbGoLog is exported by export.go.
extern void ustbGoLog(uintptr_t handle, int level, char *message);

static void ustb_go_log_trampoline(void *userdata, ustb_log_level level, const char *message) {
	ustbGoLog((uintptr_t)userdata, level, (char *)message);
}

// As for the chunk callback, the handle becomes a void* only in C.
static ustb_status ustb_go_set_log(uintptr_t handle, ustb_log_level min_level, ustb_error **error) {
	if (!handle) return ustb_set_log_callback(NULL, NULL, USTB_LOG_OFF, error);
	return ustb_set_log_callback(ustb_go_log_trampoline, (void *)handle, min_level, error);
}
*/
import "C"

import (
	"context"
	"log/slog"
	"runtime/cgo"
	"sync"
)

// The library's log levels, most important first, with the slog level each maps to.
var logLevels = []struct {
	c    C.ustb_log_level
	slog slog.Level
}{
	{C.USTB_LOG_ERROR, slog.LevelError},
	{C.USTB_LOG_WARN, slog.LevelWarn},
	{C.USTB_LOG_INFO, slog.LevelInfo},
	{C.USTB_LOG_DEBUG, slog.LevelDebug},
}

var (
	logMu     sync.Mutex // serialises SetLogger
	logHandle cgo.Handle // the logger the library calls now; 0 for none
)

// SetLogger routes the library's log lines (one line per event: requests, retries, how each
// stream ended; never cookie values) to logger, process-wide, at their slog levels (Error,
// Warn, Info, Debug). The library formats only the levels logger.Enabled reports enabled at
// the time of the call; call SetLogger again after changing the handler's level. nil removes
// the logger: the library then logs to stderr only when the USTB_LOG environment variable
// asks for it (error, warn, info or debug).
//
// The logger is called on the goroutine (or library thread) that logs, possibly on several
// at once. Once SetLogger returns, the previous logger is never called again. A panic in
// the handler is recovered and the line dropped. The handler must not call SetLogger (that
// returns ErrInvalidArgument), nor wait for a goroutine that is calling it.
func SetLogger(logger *slog.Logger) error {
	logMu.Lock()
	defer logMu.Unlock()
	var h cgo.Handle
	minLevel := C.ustb_log_level(C.USTB_LOG_OFF)
	if logger != nil {
		h = cgo.NewHandle(logger)
		for _, l := range logLevels {
			if logger.Enabled(context.Background(), l.slog) {
				minLevel = l.c
			}
		}
	}
	var cerr *C.ustb_error
	if status := C.ustb_go_set_log(C.uintptr_t(h), minLevel, &cerr); status != C.USTB_OK {
		if h != 0 {
			h.Delete()
		}
		return newError(status, cerr)
	}
	// The library has waited for running calls of the old callback: its handle is unused.
	if logHandle != 0 {
		logHandle.Delete()
	}
	logHandle = h
	return nil
}

// logLine hands one line to the logger behind handle.
func logLine(handle cgo.Handle, level C.int, message string) {
	defer func() { _ = recover() }() // a panic must not unwind through the library's frames
	logger := handle.Value().(*slog.Logger)
	lvl := slog.LevelDebug
	for _, l := range logLevels {
		if C.int(l.c) == level {
			lvl = l.slog
		}
	}
	logger.Log(context.Background(), lvl, message)
}
