package tftp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
)

// Defaults for the zero values of Server's fields.
const (
	DefaultMaxBlockSize    = maxBlockSize
	DefaultMaxWindow       = 64
	DefaultMaxTransfers    = 64
	DefaultTimeout         = time.Second
	DefaultRetries         = 5
	DefaultTransferTimeout = 30 * time.Minute
	// netasciiTsizeLimit bounds the file size for which a netascii tsize
	// is computed (it takes a read of the whole file); beyond it tsize is
	// left out of the OACK, which RFC 2349 allows.
	netasciiTsizeLimit = 64 << 20
	// maxStreamWindowBytes bounds the window a netascii transfer (or one
	// from a file without ReadAt) keeps in memory for retransmission.
	maxStreamWindowBytes = 1 << 20
)

// ErrServerClosed is returned by Serve and ListenAndServe after Close or
// Shutdown.
var ErrServerClosed = errors.New("tftp: server closed")

// Server is a read-only TFTP server. Set its fields before calling Serve
// and do not change them afterwards. The zero value serves nothing: set
// Root, Dir or Open.
type Server struct {
	// Root is the directory files are served from. Requests cannot leave
	// it: ".." elements are refused outright, and os.Root refuses
	// absolute paths and symlinks that point outside.
	Root *os.Root
	// Dir is used when Root and Open are nil: Serve opens it as the root.
	Dir string
	// Open, if set, replaces Root: it opens name (a clean slash-separated
	// path relative to the served tree, as io/fs expects) for reading.
	// Errors matching fs.ErrNotExist are answered "file not found", all
	// others "access violation". Files that are not regular are refused.
	// If the file implements io.ReaderAt, octet transfers read blocks with
	// ReadAt and keep no copy of the window.
	Open func(name string) (fs.File, error)

	// MaxBlockSize caps the blksize option (RFC 2348); 0 means 65464.
	MaxBlockSize int
	// MaxWindow caps the windowsize option (RFC 7440); 0 means 64.
	MaxWindow int
	// MaxTransfers bounds the transfers in flight; beyond it requests are
	// answered with error 0 "server busy". 0 means 64.
	MaxTransfers int
	// Timeout is the retransmission timeout when the client does not ask
	// for one with the timeout option (RFC 2349); 0 means 1 s.
	Timeout time.Duration
	// Retries is how many times in a row a packet is sent again after a
	// timeout before the transfer is given up; 0 means 5.
	Retries int
	// TransferTimeout bounds a whole transfer; 0 means 30 minutes.
	TransferTimeout time.Duration
	// Log, if set, is called once at the end of every transfer and for
	// every refused request, from the goroutine that handled it (Serve's
	// for requests refused at once): it should not block.
	Log func(Transfer)

	// listenTransfer opens the socket of one transfer; tests replace it.
	listenTransfer func(local netip.Addr) (net.PacketConn, error)

	mu        sync.Mutex
	conn      net.PacketConn
	closed    bool
	active    int
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
	ownedRoot *os.Root
}

// Transfer is the record of one request, passed to Server.Log.
type Transfer struct {
	Remote      net.Addr      // the client's address (its TID)
	Local       net.Addr      // the transfer socket's address, nil if none was opened
	File        string        // the filename as requested
	Mode        string        // "octet" or "netascii" (lower case), or as requested
	Bytes       int64         // data bytes acknowledged by the client
	BlockSize   int           // negotiated block size
	Window      int           // negotiated window size
	Tsize       int64         // the size reported with tsize, -1 if none
	Retransmits int           // packets sent again after a timeout
	Start       time.Time     // when the request arrived
	Duration    time.Duration // from the request to the end
	Err         error         // nil for a complete transfer; *Error for protocol errors
}

func (s *Server) maxBlockSize() int {
	if s.MaxBlockSize >= minBlockSize && s.MaxBlockSize <= maxBlockSize {
		return s.MaxBlockSize
	}
	return DefaultMaxBlockSize
}

func (s *Server) maxWindow() int {
	if s.MaxWindow >= 1 && s.MaxWindow <= maxWindowSize {
		return s.MaxWindow
	}
	return DefaultMaxWindow
}

func (s *Server) maxTransfers() int {
	if s.MaxTransfers > 0 {
		return s.MaxTransfers
	}
	return DefaultMaxTransfers
}

func (s *Server) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Server) retries() int {
	if s.Retries > 0 {
		return s.Retries
	}
	return DefaultRetries
}

func (s *Server) transferTimeout() time.Duration {
	if s.TransferTimeout > 0 {
		return s.TransferTimeout
	}
	return DefaultTransferTimeout
}

// ListenAndServe listens on the UDP address addr (":69" if empty) and
// serves it until Close or Shutdown.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":69"
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("tftp: listen: %w", err)
	}
	return s.Serve(pc)
}

// Serve answers the requests arriving on pc until Close or Shutdown, which
// make it return ErrServerClosed; it closes pc when it returns. Each
// transfer runs on a socket of its own (a new TID) bound to the local
// address the request was sent to: pc's own address, or, for a *net.UDPConn
// bound to a wildcard address on Linux, the destination of the request
// packet (IP_PKTINFO).
func (s *Server) Serve(pc net.PacketConn) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pc.Close()
		return ErrServerClosed
	}
	if s.conn != nil {
		s.mu.Unlock()
		pc.Close()
		return errors.New("tftp: Serve called twice")
	}
	if s.Root == nil && s.Open == nil {
		if s.Dir == "" {
			s.mu.Unlock()
			pc.Close()
			return errors.New("tftp: no Root, Dir or Open")
		}
		root, err := os.OpenRoot(s.Dir)
		if err != nil {
			s.mu.Unlock()
			pc.Close()
			return fmt.Errorf("tftp: %w", err)
		}
		s.ownedRoot = root
	}
	s.conn = pc
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Unlock()
	defer pc.Close()

	var fixedLocal netip.Addr
	if ua, ok := pc.LocalAddr().(*net.UDPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ua.IP); ok && !ip.IsUnspecified() {
			fixedLocal = ip.Unmap().WithZone(ua.Zone)
		}
	}
	var read func(buf []byte) (int, net.Addr, netip.Addr, error)
	if uc, ok := pc.(*net.UDPConn); ok && !fixedLocal.IsValid() && enablePktinfo(uc) == nil {
		oob := make([]byte, 256)
		read = func(buf []byte) (int, net.Addr, netip.Addr, error) {
			n, oobn, _, from, err := uc.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				return 0, nil, netip.Addr{}, err
			}
			return n, net.UDPAddrFromAddrPort(from), pktinfoDst(oob[:oobn]), nil
		}
	} else {
		read = func(buf []byte) (int, net.Addr, netip.Addr, error) {
			n, from, err := pc.ReadFrom(buf)
			return n, from, fixedLocal, err
		}
	}

	buf := make([]byte, maxRequestSize+1)
	for {
		n, from, local, err := read(buf)
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("tftp: read: %w", err)
		}
		s.handlePacket(buf[:n], from, local)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Addr is the address Serve listens on, nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	return s.conn.LocalAddr()
}

// Close stops Serve and aborts the transfers in flight (their clients get
// error 0 "server shutting down"), and waits for them to end.
func (s *Server) Close() error {
	err := s.stop()
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.closeRoot()
	return err
}

// Shutdown stops Serve and waits for the transfers in flight to end, or,
// when ctx ends first, aborts them as Close does and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.stop()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.closeRoot()
		return err
	case <-ctx.Done():
		_ = s.Close()
		return ctx.Err()
	}
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.conn != nil {
		return s.conn.Close()
	}
	return nil
}

func (s *Server) closeRoot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ownedRoot != nil {
		s.ownedRoot.Close()
		s.ownedRoot = nil
	}
}

// handlePacket handles one packet received on the server's port.
func (s *Server) handlePacket(b []byte, from net.Addr, local netip.Addr) {
	start := time.Now()
	if len(b) >= 2 {
		switch binary.BigEndian.Uint16(b) {
		case opDATA, opACK, opERROR, opOACK:
			// Strays (tftp-hpa acknowledges error packets, late
			// retransmissions): never answered.
			return
		}
	}
	req, err := parseRequest(b)
	rec := Transfer{Remote: from, File: req.filename, Mode: req.mode, Tsize: -1, Start: start}
	refuse := func(code uint16, msg string) {
		s.conn.WriteTo(appendError(nil, code, msg), from)
		rec.Err = &Error{Code: code, Message: msg}
		rec.Duration = time.Since(start)
		if s.Log != nil {
			s.Log(rec)
		}
	}
	switch {
	case err != nil:
		refuse(CodeIllegal, "malformed request: "+err.Error())
		return
	case req.op == opWRQ:
		refuse(CodeAccess, "read-only server: write requests refused")
		return
	case req.mode == "mail":
		refuse(CodeIllegal, "mail mode not supported")
		return
	case req.mode != "octet" && req.mode != "netascii":
		refuse(CodeIllegal, "unknown transfer mode")
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.active >= s.maxTransfers() {
		s.mu.Unlock()
		refuse(CodeNotDefined, "server busy")
		return
	}
	s.active++
	s.wg.Add(1)
	ctx := s.ctx
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			s.active--
			s.mu.Unlock()
			s.wg.Done()
		}()
		t := &transfer{s: s, req: req, peer: from, local: local, rec: rec}
		t.run(ctx)
		t.rec.Duration = time.Since(start)
		if s.Log != nil {
			s.Log(t.rec)
		}
	}()
}

// open opens the named file for a transfer, returning a TFTP error code
// and message on failure.
func (s *Server) open(name string) (fs.File, fs.FileInfo, *Error) {
	clean, err := cleanName(name)
	if err != nil {
		return nil, nil, &Error{Code: CodeAccess, Message: "access violation"}
	}
	var f fs.File
	switch {
	case s.Open != nil:
		f, err = s.Open(clean)
	case s.Root != nil:
		f, err = openRegular(s.Root, clean)
	default:
		f, err = openRegular(s.ownedRoot, clean)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, &Error{Code: CodeNotFound, Message: "file not found"}
		}
		return nil, nil, &Error{Code: CodeAccess, Message: "access violation"}
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, &Error{Code: CodeAccess, Message: "not a regular file"}
	}
	return f, fi, nil
}

// negotiate works out the transfer's parameters from the request's options
// and returns the options to acknowledge (RFC 2347: those the server
// accepts, with the values it uses). Unknown and invalid options are left
// out, so the client falls back to the defaults for them.
func (t *transfer) negotiate(f fs.File, size int64) []option {
	s := t.s
	t.blksize = defaultBlockSize
	t.window = 1
	t.timeout = s.timeout()
	var ack []option
	for _, o := range t.req.options {
		switch o.name {
		case "blksize":
			n, ok := parseUint(o.value)
			if !ok || n < minBlockSize {
				continue
			}
			n = min(n, maxBlockSize, s.maxBlockSize())
			t.blksize = n
			ack = append(ack, option{o.name, strconv.Itoa(n)})
		case "timeout":
			n, ok := parseUint(o.value)
			if !ok || n < 1 || n > maxTimeoutSeconds {
				continue
			}
			t.timeout = time.Duration(n) * time.Second
			ack = append(ack, option{o.name, o.value})
		case "tsize":
			if t.req.mode == "octet" {
				t.rec.Tsize = size
			} else if ra, ok := f.(io.ReaderAt); ok && size <= netasciiTsizeLimit {
				t.rec.Tsize = netasciiSize(io.NewSectionReader(ra, 0, size), netasciiTsizeLimit)
			}
			if t.rec.Tsize >= 0 {
				ack = append(ack, option{o.name, strconv.FormatInt(t.rec.Tsize, 10)})
			}
		case "windowsize":
			n, ok := parseUint(o.value)
			if !ok || n < 1 || n > maxWindowSize {
				continue
			}
			n = min(n, s.maxWindow())
			t.window = n
			ack = append(ack, option{o.name, strconv.Itoa(n)})
		}
	}
	// A transfer that cannot reread blocks keeps its window in memory:
	// bound that to maxStreamWindowBytes by shrinking the window.
	_, ra := f.(io.ReaderAt)
	if (t.req.mode != "octet" || !ra) && t.window*t.blksize > maxStreamWindowBytes {
		t.window = max(1, maxStreamWindowBytes/t.blksize)
		for i := range ack {
			if ack[i].name == "windowsize" {
				ack[i].value = strconv.Itoa(t.window)
			}
		}
	}
	return ack
}
