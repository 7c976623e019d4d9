// Package memtest measures, for tests, how much memory a server holds
// for its clients: HeldWhileStalled has clients start downloads and stop
// reading, and counts the live heap the server keeps meanwhile. A server
// that builds a response in memory before writing it holds the whole of it
// at that point, since its write cannot finish; one that streams holds the
// chunk it is writing. The figure is taken after a full garbage
// collection, so it does not depend on when the collector last ran, and
// the measurement does not race with the server: it is deterministic
// enough for a bound in `make test`.
package memtest

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
)

// LiveHeap is the heap held by live objects, after a full collection.
func LiveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// HeldWhileStalled GETs each of urls at once with client, reads the
// first stallAt bytes of each answer's body, and then, while every
// client has stopped reading, measures how far the live heap has grown
// over its level before the requests. It then reads the rest of each body
// and returns the growth and the length of each body. Every answer must
// be 200 and at least stallAt bytes long. Client and server share the
// process, so the figure includes the clients' few KiB; use an HTTP/1.1
// client (an HTTP/2 one buffers up to its receive window).
func HeldWhileStalled(tb testing.TB, client *http.Client, urls []string, stallAt int64) (grown uint64, sizes []int64) {
	tb.Helper()
	before := LiveHeap()
	stalled := make(chan error, len(urls))
	resume := make(chan struct{})
	sizes = make([]int64, len(urls))
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	for i, url := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(url)
			if err != nil {
				stalled <- err
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			n, err := io.CopyN(io.Discard, resp.Body, stallAt)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("%s: status %d", url, resp.StatusCode)
			}
			stalled <- err
			if err != nil {
				errs[i] = err
				return
			}
			<-resume
			m, err := io.Copy(io.Discard, resp.Body)
			sizes[i], errs[i] = n+m, err
		}()
	}
	var first error
	for range urls {
		if err := <-stalled; err != nil && first == nil {
			first = err
		}
	}
	if first == nil {
		if now := LiveHeap(); now > before {
			grown = now - before
		}
	}
	close(resume)
	wg.Wait()
	if first != nil {
		tb.Fatalf("stalled readers: %v", first)
	}
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("reader %d: %v", i, err)
		}
	}
	return grown, sizes
}
