package dispatcher

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// The console socket (workerproto.ConsoleSocket) is how the worker hands a
// console session's input to the job process. The job process listens on
// it in the job directory (mode 0600); the worker connects (again after it
// restarts or loses the connection; several connections may be open, the
// oldest being a dead worker's). On each connection:
//
//   - the worker writes workerproto.ConsoleInput values, one JSON object
//     per line, in Seq order;
//   - the job process writes ConsoleReply values, one JSON object per line:
//     one as soon as the connection is accepted (what it has applied), one
//     after each line it has dealt with (every line counts, even an empty
//     or invalid one), and one whenever its journal grew (Appended).
//     Replies are coalesced: a reply carries the latest values, so a
//     worker must not count them.
//
// The job process applies each input exactly once, in Seq order, whatever
// the connection it came on: an input whose Seq is at most Applied is a
// duplicate (a resend after a restart or a link cut) and is skipped; an
// input whose Seq is beyond Applied+1 is refused (not applied: the worker
// asks the server again from Applied); only Applied+1 is applied.

// MaxConsoleLine bounds a line on the console socket (a ConsoleInput with
// its base64 data): a longer line closes the connection.
const MaxConsoleLine = 1 << 20

// consoleWriteTimeout bounds writing a reply to a worker that does not
// read.
const consoleWriteTimeout = 10 * time.Second

// ConsoleReply is what the job process writes on the console socket.
type ConsoleReply struct {
	// Applied is the Seq of the last input applied (0: none yet). It
	// never goes back.
	Applied int64 `json:"applied"`
	// Lines counts the input lines of this connection dealt with
	// (applied, skipped as a duplicate, refused, or ignored as invalid):
	// once it reaches the number of lines the worker wrote, Applied says
	// what came of its inputs.
	Lines int64 `json:"lines"`
	// Appended says the job's journal grew since the last reply: the
	// worker uploads it at once.
	Appended bool `json:"appended,omitempty"`
}

// ParseConsoleInput decodes and checks one line of the console socket
// (without its newline): a ConsoleInput with a Seq of at least 1 and
// exactly one of Data, a known Power action, or Expired (an expired input
// may keep its Data or Power, to say what was dropped).
func ParseConsoleInput(line []byte) (workerproto.ConsoleInput, error) {
	var in workerproto.ConsoleInput
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&in); err != nil {
		return workerproto.ConsoleInput{}, fmt.Errorf("console input: %w", err)
	}
	if dec.More() {
		return workerproto.ConsoleInput{}, errors.New("console input: more than one JSON value on the line")
	}
	switch {
	case in.Seq < 1:
		return workerproto.ConsoleInput{}, fmt.Errorf("console input: seq %d (inputs count from 1)", in.Seq)
	case in.Power != "" && in.Power != workerproto.PowerOn && in.Power != workerproto.PowerOff && in.Power != workerproto.PowerReset:
		return workerproto.ConsoleInput{}, fmt.Errorf("console input %d: unknown power action %q", in.Seq, in.Power)
	case in.Power != "" && len(in.Data) > 0:
		return workerproto.ConsoleInput{}, fmt.Errorf("console input %d: both data and a power action", in.Seq)
	case in.Power == "" && len(in.Data) == 0 && !in.Expired:
		return workerproto.ConsoleInput{}, fmt.Errorf("console input %d: neither data nor a power action", in.Seq)
	}
	return in, nil
}

// ConsoleServer is the job process's side of the console socket.
type ConsoleServer struct {
	ln    net.Listener
	path  string
	apply func(workerproto.ConsoleInput)
	warn  func(format string, args ...any)

	mu      sync.Mutex   // held while an input is applied
	applied atomic.Int64 // written with mu held

	connsMu sync.Mutex
	conns   map[*consoleConn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// consoleConn is one worker connection.
type consoleConn struct {
	c        net.Conn
	kick     chan struct{} // a reply is due
	done     chan struct{} // closed when the connection ends
	mu       sync.Mutex
	lines    int64
	appended bool
}

// ListenConsole listens on the console socket of job directory dir
// (replacing a file left there) and applies the inputs it receives with
// apply, one at a time, in Seq order, each once. warn records problems
// with what workers send (a bad line) in the job's log.
func ListenConsole(dir string, apply func(workerproto.ConsoleInput), warn func(format string, args ...any)) (*ConsoleServer, error) {
	path := filepath.Join(dir, workerproto.ConsoleSocket)
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("console socket: %w", err)
	}
	s := &ConsoleServer{ln: ln, path: path, apply: apply, warn: warn, conns: map[*consoleConn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Applied is the Seq of the last input applied.
func (s *ConsoleServer) Applied() int64 {
	return s.applied.Load()
}

// Appended tells the connected workers that the journal grew. It never
// blocks.
func (s *ConsoleServer) Appended() {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	for cc := range s.conns {
		cc.mu.Lock()
		cc.appended = true
		cc.mu.Unlock()
		cc.poke()
	}
}

// Close stops listening, closes the connections, waits for an input
// being applied, and removes the socket file. No input is applied after
// Close returns.
func (s *ConsoleServer) Close() error {
	s.connsMu.Lock()
	if s.closed {
		s.connsMu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for cc := range s.conns {
		cc.c.Close()
	}
	s.connsMu.Unlock()
	s.wg.Wait()
	_ = os.Remove(s.path)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *ConsoleServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		cc := &consoleConn{c: c, kick: make(chan struct{}, 1), done: make(chan struct{})}
		s.connsMu.Lock()
		if s.closed {
			s.connsMu.Unlock()
			c.Close()
			return
		}
		s.conns[cc] = struct{}{}
		s.wg.Add(2)
		s.connsMu.Unlock()
		cc.poke() // the first reply: what is applied
		go s.replies(cc)
		go s.serve(cc)
	}
}

func (cc *consoleConn) poke() {
	select {
	case cc.kick <- struct{}{}:
	default:
	}
}

// serve reads one connection's inputs until it ends.
func (s *ConsoleServer) serve(cc *consoleConn) {
	defer s.wg.Done()
	defer func() {
		close(cc.done)
		cc.c.Close()
		s.connsMu.Lock()
		delete(s.conns, cc)
		s.connsMu.Unlock()
	}()
	r := bufio.NewReaderSize(cc.c, 64<<10)
	for {
		line, err := readConsoleLine(r)
		if err != nil {
			if errors.Is(err, errConsoleLineTooLong) {
				s.warn("console socket: %v: connection closed", err)
			}
			return
		}
		// an empty line is nothing to deal with (counted all the same)
		switch in, err := ParseConsoleInput(line); {
		case len(bytes.TrimSpace(line)) == 0:
		case err != nil:
			s.warn("console socket: a line was ignored: %v", err)
		default:
			s.offer(in)
		}
		cc.mu.Lock()
		cc.lines++
		cc.mu.Unlock()
		cc.poke()
	}
}

// offer applies in when it is the next input; a duplicate is skipped, an
// input beyond the next is refused.
func (s *ConsoleServer) offer(in workerproto.ConsoleInput) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.Seq != s.applied.Load()+1 {
		return
	}
	s.connsMu.Lock()
	closed := s.closed
	s.connsMu.Unlock()
	if closed {
		return
	}
	s.apply(in)
	s.applied.Store(in.Seq)
}

// replies writes a connection's replies until it ends.
func (s *ConsoleServer) replies(cc *consoleConn) {
	defer s.wg.Done()
	for {
		select {
		case <-cc.done:
			return
		case <-cc.kick:
		}
		cc.mu.Lock()
		rep := ConsoleReply{Lines: cc.lines, Appended: cc.appended}
		cc.appended = false
		cc.mu.Unlock()
		// Applied is read after Lines: an input counted in Lines is
		// counted in Applied if it was applied.
		rep.Applied = s.Applied()
		b, _ := json.Marshal(rep)
		_ = cc.c.SetWriteDeadline(time.Now().Add(consoleWriteTimeout))
		if _, err := cc.c.Write(append(b, '\n')); err != nil {
			cc.c.Close()
			return
		}
	}
}

var errConsoleLineTooLong = fmt.Errorf("a line longer than %d bytes", MaxConsoleLine)

// readConsoleLine reads one line (without its newline) of at most
// MaxConsoleLine bytes.
func readConsoleLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := r.ReadSlice('\n')
		if len(line)+len(part) > MaxConsoleLine+1 {
			return nil, errConsoleLineTooLong
		}
		switch {
		case err == nil:
			if line == nil {
				return bytes.TrimSuffix(part, []byte{'\n'}), nil
			}
			return bytes.TrimSuffix(append(line, part...), []byte{'\n'}), nil
		case errors.Is(err, bufio.ErrBufferFull):
			line = append(line, part...)
		default:
			return nil, err
		}
	}
}
