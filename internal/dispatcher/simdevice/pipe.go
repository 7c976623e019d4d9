package simdevice

import (
	"context"
	"errors"
	"io"
	"sync"
)

// errClosed is returned by writes to a closed stream.
var errClosed = errors.New("simdevice: console closed")

// stream is an in-memory byte stream with one reader side and one writer
// side. Writes block while limit bytes are buffered (backpressure from a
// slow reader) unless the stream drops instead (drop: the device's input
// FIFO, which a hung device leaves full). Reads block until data or Close.
type stream struct {
	mu     sync.Mutex
	data   []byte
	head   int // data[head:] is unread
	limit  int
	drop   bool
	closed bool
	sig    chan struct{} // closed and replaced on every change
}

func newStream(limit int, drop bool) *stream {
	return &stream{limit: limit, drop: drop, sig: make(chan struct{})}
}

// changedLocked wakes every waiter.
func (s *stream) changedLocked() {
	close(s.sig)
	s.sig = make(chan struct{})
}

func (s *stream) buffered() int { return len(s.data) - s.head }

// write appends b, waiting for room unless the stream drops; it gives up
// when ctx ends or the stream is closed.
func (s *stream) write(ctx context.Context, b []byte) error {
	for len(b) > 0 {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return errClosed
		}
		room := s.limit - s.buffered()
		if room <= 0 && s.drop {
			s.mu.Unlock()
			return nil
		}
		if room > 0 {
			n := min(room, len(b))
			if s.head > 0 && len(s.data)+n > cap(s.data) {
				s.data = s.data[:copy(s.data, s.data[s.head:])]
				s.head = 0
			}
			s.data = append(s.data, b[:n]...)
			b = b[n:]
			s.changedLocked()
			s.mu.Unlock()
			continue
		}
		ch := s.sig
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
	return nil
}

// Read implements io.Reader: it blocks until data is buffered, and returns
// io.EOF once the stream is closed and drained.
func (s *stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		s.mu.Lock()
		if s.buffered() > 0 {
			n := copy(p, s.data[s.head:])
			s.head += n
			if s.head == len(s.data) {
				s.data, s.head = s.data[:0], 0
			}
			s.changedLocked()
			s.mu.Unlock()
			return n, nil
		}
		if s.closed {
			s.mu.Unlock()
			return 0, io.EOF
		}
		ch := s.sig
		s.mu.Unlock()
		<-ch
	}
}

// readLine waits for a complete line and returns it without its line
// ending ("\n" or "\r\n"; a lone "\r" also ends a line, as a terminal's
// Enter key does).
func (s *stream) readLine(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		buf := s.data[s.head:]
		for i, c := range buf {
			if c != '\n' && c != '\r' {
				continue
			}
			line := string(buf[:i])
			end := i + 1
			if c == '\r' && end < len(buf) && buf[end] == '\n' {
				end++
			}
			s.head += end
			if s.head == len(s.data) {
				s.data, s.head = s.data[:0], 0
			}
			s.changedLocked()
			s.mu.Unlock()
			return line, nil
		}
		if s.closed {
			s.mu.Unlock()
			return "", errClosed
		}
		ch := s.sig
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-ch:
		}
	}
}

// reset drops everything buffered.
func (s *stream) reset() {
	s.mu.Lock()
	s.data, s.head = s.data[:0], 0
	s.changedLocked()
	s.mu.Unlock()
}

// close ends the stream; buffered data can still be read.
func (s *stream) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.changedLocked()
	}
	s.mu.Unlock()
}
