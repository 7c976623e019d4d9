package tftp

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
)

// BenchmarkTFTP fetches a 16 MiB file over loopback with the in-test
// client at blksize 1468: "one" client with windowsize 16, "20" clients
// at once with windowsize 16, and "one-lockstep" without a window (one
// ACK per block, like tftp-hpa's client). MB/s counts the bytes of all
// clients. The clients ask for tsize to size their buffers at once.
func BenchmarkTFTP(b *testing.B) {
	const size = 16 << 20
	dir := b.TempDir()
	want := randomBytes(size, 42)
	writeFile(b, dir, "kernel", want)
	ts := startServer(b, dir, func(s *Server) { s.MaxTransfers = 100 })
	run := func(b *testing.B, clients int, c testClient) {
		conns := make([]net.PacketConn, clients)
		bufs := make([]bytes.Buffer, clients)
		for i := range conns {
			conns[i] = clientConn(b)
		}
		b.SetBytes(int64(size * clients))
		b.ResetTimer()
		for b.Loop() {
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := c
					c.Into = &bufs[i]
					got, _, err := c.get(conns[i], ts.addr, "kernel")
					if err == nil && !bytes.Equal(got, want) {
						err = fmt.Errorf("content differs")
					}
					if err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		}
	}
	b.Run("one", func(b *testing.B) { run(b, 1, testClient{Blksize: 1468, Window: 16, Tsize: true}) })
	b.Run("20", func(b *testing.B) { run(b, 20, testClient{Blksize: 1468, Window: 16, Tsize: true}) })
	b.Run("one-lockstep", func(b *testing.B) { run(b, 1, testClient{Blksize: 1468, Tsize: true}) })
}
