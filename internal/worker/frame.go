package worker

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// maxFrame bounds one line of the stream (an assignment carries the job
// definition and the device dictionary).
const maxFrame = 16 << 20

// errUnknownFrame marks a frame of a kind this worker does not know (a newer
// server): it is skipped, not fatal.
var errUnknownFrame = errors.New("unknown frame type")

// decodeFrame parses and checks one stream line (without its newline).
func decodeFrame(line []byte) (workerproto.Frame, error) {
	var f workerproto.Frame
	if err := json.Unmarshal(line, &f); err != nil {
		return f, fmt.Errorf("frame: %w", err)
	}
	switch f.Type {
	case workerproto.FrameHello:
		if f.Hello == nil {
			return f, errors.New("frame: hello without its body")
		}
		if f.Hello.HeartbeatInterval < 0 {
			return f, fmt.Errorf("frame: negative heartbeat interval %d", f.Hello.HeartbeatInterval)
		}
	case workerproto.FrameAssign:
		a := f.Assign
		if a == nil {
			return f, errors.New("frame: assign without its body")
		}
		if a.JobID <= 0 {
			return f, fmt.Errorf("frame: assign of job %d", a.JobID)
		}
		if a.Device.Hostname == "" {
			return f, fmt.Errorf("frame: assign of job %d without a device", a.JobID)
		}
	case workerproto.FrameCancel:
		if f.Cancel == nil || f.Cancel.JobID <= 0 {
			return f, errors.New("frame: cancel without a job")
		}
	case workerproto.FramePing:
	default:
		return f, fmt.Errorf("frame %q: %w", f.Type, errUnknownFrame)
	}
	return f, nil
}

// readLine reads one line of at most limit bytes, without its newline.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > limit+1 {
			return nil, fmt.Errorf("stream line longer than %d bytes", limit)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}
