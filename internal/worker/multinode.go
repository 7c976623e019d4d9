package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Multinode relay: a multinode job's process reaches the coordinator
// through its worker. The worker listens on the Unix socket
// workerproto.MultinodeSocket in the job's directory while the job runs,
// and forwards each call over its one link to the server
// (workerproto.PathMultinode). No port is opened and the job needs no
// coordinator configuration.

// Bounds of the relay.
const (
	// maxMultinodeHold caps how long the server is asked to hold a call
	// (the server caps it too).
	maxMultinodeHold = 30 * time.Second
	// maxMultinodeRequest bounds a job process's request line.
	maxMultinodeRequest = 1 << 20
	// multinodeIOTimeout bounds reading a request from, and writing an
	// answer to, the job process.
	multinodeIOTimeout = 10 * time.Second
)

// serveMultinode relays the job process's coordinator calls until the job
// process has exited or ctx ends. A socket file left by an earlier run of
// the worker is replaced.
func (j *job) serveMultinode(ctx context.Context) {
	path := j.path(workerproto.MultinodeSocket)
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		j.log.Error("cannot open the multinode socket: the job's coordinator calls will time out", "path", path, "err", err)
		return
	}
	if err := os.Chmod(path, 0o600); err != nil {
		j.log.Warn("cannot restrict the multinode socket", "err", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-j.exited:
		}
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil && !j.hasExited() && !errors.Is(err, net.ErrClosed) {
				j.log.Warn("multinode socket", "err", err)
			}
			_ = os.Remove(path)
			return
		}
		go j.relayMultinode(ctx, c)
	}
}

// relayMultinode answers one call of the job process on c.
func (j *job) relayMultinode(ctx context.Context, c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(multinodeIOTimeout))
	line, err := bufio.NewReaderSize(c, 4096).ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		j.log.Debug("multinode call: unreadable request", "err", err)
		return
	}
	// ReadSlice returns at most the buffer: read the rest of a long line.
	if errors.Is(err, bufio.ErrBufferFull) {
		line, err = readLongLine(c, line)
		if err != nil {
			j.answerMultinode(c, workerproto.MultinodeResponse{Error: err.Error()})
			return
		}
	}
	var req workerproto.MultinodeRequest
	if err := json.Unmarshal(line, &req); err != nil {
		j.answerMultinode(c, workerproto.MultinodeResponse{Error: fmt.Sprintf("invalid multinode request: %v", err)})
		return
	}
	req.Hold = min(max(req.Hold, 0), maxMultinodeHold)
	var resp workerproto.MultinodeResponse
	body, err := json.Marshal(req)
	if err != nil {
		j.answerMultinode(c, workerproto.MultinodeResponse{Error: fmt.Sprintf("encode multinode request: %v", err)})
		return
	}
	err = j.w.link.sendWithin(ctx, req.Hold+j.w.cfg.RequestTimeout, "POST", fmt.Sprintf(workerproto.PathMultinode, j.id), nil,
		body, "application/json", &resp, true)
	if err != nil {
		if e := asAPIError(err); e != nil && refusedForGood(e) {
			j.answerMultinode(c, workerproto.MultinodeResponse{Error: e.Error()})
			return
		}
		// The server is out of reach: no answer, the job process retries.
		j.log.Debug("multinode call not relayed", "request", req.Request, "err", err)
		return
	}
	j.answerMultinode(c, resp)
}

// readLongLine reads the rest of a request line that overflowed the
// reader's buffer, within maxMultinodeRequest.
func readLongLine(c net.Conn, start []byte) ([]byte, error) {
	buf := append([]byte(nil), start...)
	one := make([]byte, 4096)
	for len(buf) <= maxMultinodeRequest {
		n, err := c.Read(one)
		for i := range n {
			if one[i] == '\n' {
				return append(buf, one[:i]...), nil
			}
		}
		buf = append(buf, one[:n]...)
		if err != nil {
			return nil, fmt.Errorf("multinode request: %w", err)
		}
	}
	return nil, fmt.Errorf("multinode request longer than %d bytes", maxMultinodeRequest)
}

// answerMultinode writes one answer line.
func (j *job) answerMultinode(c net.Conn, resp workerproto.MultinodeResponse) {
	b, err := json.Marshal(resp)
	if err != nil {
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(multinodeIOTimeout))
	if _, err := c.Write(append(b, '\n')); err != nil {
		j.log.Debug("multinode answer not delivered", "err", err)
	}
}

// refusedForGood reports whether the server's refusal of a multinode call
// will not change by asking again: a client error other than a timeout,
// throttling or a protocol mismatch (a server being upgraded).
func refusedForGood(e *apiError) bool {
	return e.Status/100 == 4 && e.Status != 408 && e.Status != 429 && !e.mismatch()
}
