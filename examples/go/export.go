package ustb

// #include <stdint.h>
// #include <stddef.h>
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// ustbGoChunk is the Go side of the C trampoline in callback.go: handle is the run's
// cgo.Handle and chunk is borrowed for this call only.
//
//export ustbGoChunk
func ustbGoChunk(handle C.uintptr_t, chunk *C.char, n C.size_t) C.int {
	p := cgo.Handle(handle).Value().(*pushState)
	// json.Unmarshal copies what it keeps, so the borrowed bytes are read in place.
	return p.deliver(unsafe.Slice((*byte)(unsafe.Pointer(chunk)), int(n)))
}

// ustbGoLog is the Go side of the log trampoline in log.go; message is borrowed for this
// call only (C.GoString copies it).
//
//export ustbGoLog
func ustbGoLog(handle C.uintptr_t, level C.int, message *C.char) {
	logLine(cgo.Handle(handle), level, C.GoString(message))
}
