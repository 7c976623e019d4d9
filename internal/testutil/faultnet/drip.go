package faultnet

import (
	"net"
	"time"
)

// Drip makes c a slow client: it writes one byte ("x") every interval
// until the returned stop is called or a write fails (the peer closed).
// Tests use it for slow-loris clients that send a request's head, then
// its body, or its last header, a byte at a time.
func Drip(c net.Conn, every time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	return func() { close(done) }
}
