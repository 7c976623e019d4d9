package tftp

import (
	"bytes"
	"io"
)

// netasciiReader converts a byte stream to netascii (RFC 764, as RFC 1350
// asks): LF becomes CR LF and CR becomes CR NUL. A client in netascii mode
// undoes both, so the file arrives byte for byte.
type netasciiReader struct {
	r       io.Reader
	buf     []byte
	start   int
	end     int
	pending int // -1 or the second byte of a pair that did not fit
	err     error
}

func newNetasciiReader(r io.Reader) *netasciiReader {
	return &netasciiReader{r: r, buf: make([]byte, 16<<10), pending: -1}
}

// Read implements io.Reader.
func (n *netasciiReader) Read(p []byte) (int, error) {
	w := 0
	for w < len(p) {
		if n.pending >= 0 {
			p[w] = byte(n.pending)
			w++
			n.pending = -1
			continue
		}
		if n.start == n.end {
			if n.err != nil {
				break
			}
			if w > 0 {
				// Return what we have rather than block on the source.
				break
			}
			m, err := n.r.Read(n.buf)
			n.start, n.end, n.err = 0, m, err
			if m == 0 && err == nil {
				continue
			}
			continue
		}
		c := n.buf[n.start]
		n.start++
		switch c {
		case '\n':
			p[w] = '\r'
			n.pending = '\n'
		case '\r':
			p[w] = '\r'
			n.pending = 0
		default:
			p[w] = c
		}
		w++
	}
	if w == 0 && n.start == n.end && n.pending < 0 && n.err != nil {
		return 0, n.err
	}
	return w, nil
}

// netasciiSize is the size of r's content once converted to netascii, or
// -1 if r holds more than limit bytes or cannot be read.
func netasciiSize(r io.Reader, limit int64) int64 {
	buf := make([]byte, 32<<10)
	var raw, extra int64
	for {
		m, err := r.Read(buf)
		raw += int64(m)
		if raw > limit {
			return -1
		}
		extra += int64(bytes.Count(buf[:m], []byte{'\n'}) + bytes.Count(buf[:m], []byte{'\r'}))
		if err == io.EOF {
			return raw + extra
		}
		if err != nil {
			return -1
		}
	}
}
