package rest_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// Sizes of BenchmarkLogReaders, as flags so that a smaller machine (or the
// code before streaming, which holds a copy of the log per reader) can run
// it: go test -run '^$' -bench LogReaders ./internal/api/rest -args
// -log-readers-mb 512 -log-readers 100 -log-readers-protos http1,h2c.
var (
	readersLogMB  = flag.Int("log-readers-mb", 1024, "BenchmarkLogReaders: size of the log in MiB")
	readersN      = flag.Int("log-readers", 100, "BenchmarkLogReaders: concurrent readers")
	readersProtos = flag.String("log-readers-protos", "http1", "BenchmarkLogReaders: protocols, comma-separated: http1, h2c")
)

// logRecord returns journal line n (without its newline): a record of the
// dispatcher's shape, 100–120 bytes like a console line of a boot log.
func logRecord(buf []byte, n int) []byte {
	buf = append(buf, `{"dt":"2026-01-02T03:`...)
	buf = append(buf, fmt.Sprintf("%02d:%02d.%06dZ", n/60000%60, n/1000%60, n%1000*1000)...)
	buf = append(buf, `","lvl":"target","msg":"[ `...)
	buf = strconv.AppendInt(buf, int64(n/1000), 10)
	buf = append(buf, '.')
	buf = append(buf, fmt.Sprintf("%06d", n%1000*997%1000000)...)
	buf = append(buf, `] console line `...)
	buf = strconv.AppendInt(buf, int64(n), 10)
	buf = append(buf, ` of the boot, some text to read"}`...)
	return buf
}

// fillLog appends complete lines to job id's log until it holds at least
// size bytes or lines lines (whichever is set), in 4 MiB uploads, and
// returns the stored size and line count.
func fillLog(tb testing.TB, logs *logstore.Store, id int64, size int64, lines int) (int64, int) {
	tb.Helper()
	var chunk []byte
	var off int64
	n := 0
	for (size > 0 && off+int64(len(chunk)) < size) || (lines > 0 && n < lines) {
		chunk = append(logRecord(chunk, n), '\n')
		n++
		if len(chunk) >= 4<<20 {
			stored, err := logs.Append(context.Background(), id, off, chunk)
			must(tb, err)
			off, chunk = stored, chunk[:0]
		}
	}
	if len(chunk) > 0 {
		stored, err := logs.Append(context.Background(), id, off, chunk)
		must(tb, err)
		off = stored
	}
	return off, n
}

// getLog downloads path as anonymous with client and returns the bytes
// read (discarded) and the response.
func getLog(client *http.Client, url string) (int64, *http.Response, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, resp, err
	}
	if resp.StatusCode != 200 {
		return n, resp, fmt.Errorf("status %d", resp.StatusCode)
	}
	return n, resp, nil
}

// BenchmarkLogDownload measures the download of a whole 200,000-line job
// log (about 21 MB) through GET /jobs/{id}/logs, over a real loopback HTTP
// connection, from request to last byte: LAVA's comparison point.
func BenchmarkLogDownload(b *testing.B) {
	e := newEnv(b, labtest.Backends()[0])
	size, lines := fillLog(b, e.Logs, e.pubJob, 0, 200000)
	url := fmt.Sprintf("%s%s/jobs/%d/logs", e.srv.URL, rest.Prefix, e.pubJob)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	if _, _, err := getLog(client, url); err != nil { // page cache warm, connection open
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		n, resp, err := getLog(client, url)
		if err != nil {
			b.Fatal(err)
		}
		if n != size || resp.Header.Get("X-Total-Lines") != strconv.Itoa(lines) {
			b.Fatalf("got %d bytes, X-Total-Lines %s; want %d, %d", n, resp.Header.Get("X-Total-Lines"), size, lines)
		}
	}
}

// memSampler samples the Go heap (runtime.ReadMemStats) every 20 ms until
// stopped and keeps the peaks.
type memSampler struct {
	stop             chan struct{}
	done             chan struct{}
	heapInuse, sys   uint64
	startInuse       uint64
	startAllocBytes  uint64
	allocBytesAtStop uint64
}

func startMemSampler() *memSampler {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := &memSampler{stop: make(chan struct{}), done: make(chan struct{}), startInuse: ms.HeapInuse,
		heapInuse: ms.HeapInuse, sys: ms.Sys, startAllocBytes: ms.TotalAlloc}
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			s.heapInuse, s.sys = max(s.heapInuse, ms.HeapInuse), max(s.sys, ms.Sys)
			s.allocBytesAtStop = ms.TotalAlloc
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops sampling (after one last sample).
func (s *memSampler) end() {
	close(s.stop)
	<-s.done
}

// growth is the peak HeapInuse over the start, and the bytes allocated
// while sampling.
func (s *memSampler) growth() (inuse, allocated uint64) {
	if s.heapInuse > s.startInuse {
		inuse = s.heapInuse - s.startInuse
	}
	return inuse, s.allocBytesAtStop - s.startAllocBytes
}

// procStatus returns a field of /proc/self/status in MB (kB values), or 0.
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// readConcurrently has n clients download url at once and returns each
// one's time to last byte, sorted. Reader i uses clients[i%len(clients)].
func readConcurrently(tb testing.TB, clients []*http.Client, url string, n int, size int64) []time.Duration {
	tb.Helper()
	times := make([]time.Duration, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := getLog(clients[i%len(clients)], url)
			times[i] = time.Since(start)
			if err == nil && got != size {
				err = fmt.Errorf("reader %d got %d bytes of %d", i, got, size)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	slices.Sort(times)
	return times
}

// BenchmarkLogReaders has 100 clients download the whole of a public 1 GiB
// job log at once, anonymously, over loopback HTTP/1.1 (and with
// -log-readers-protos http1,h2c also over h2c, which the server speaks too:
// each reader then has a connection of its own), and reports the time to
// the last byte (the slowest reader; p50 too), the aggregate throughput,
// and the memory: the peak Go heap in use above its level before the reads
// (HeapInuse, sampled every 20 ms), the bytes allocated per reader, the
// peak of the Go runtime's Sys, and the process's peak RSS (VmHWM, reset
// before the reads where the kernel allows; the server and its clients
// share the process). Sizes: -args -log-readers-mb N -log-readers N. The
// log is written to a t.TempDir first (about 1.1 GiB of disk with its
// index).
func BenchmarkLogReaders(b *testing.B) {
	e := newEnv(b, labtest.Backends()[0])
	size, _ := fillLog(b, e.Logs, e.pubJob, int64(*readersLogMB)<<20, 0)
	for _, proto := range strings.Split(*readersProtos, ",") {
		b.Run(fmt.Sprintf("%s/log=%dMiB/readers=%d", proto, *readersLogMB, *readersN), func(b *testing.B) {
			srv := e.srv.URL
			clients := []*http.Client{{Transport: &http.Transport{MaxIdleConnsPerHost: *readersN}}}
			switch proto {
			case "http1":
			case "h2c":
				srv = h2cServer(b, e)
				clients = nil
				for range *readersN {
					tr := &http.Transport{Protocols: new(http.Protocols),
						HTTP2: &http.HTTP2Config{MaxReceiveBufferPerStream: 256 << 10, MaxReceiveBufferPerConnection: 1 << 20}}
					tr.Protocols.SetUnencryptedHTTP2(true)
					clients = append(clients, &http.Client{Transport: tr})
				}
			default:
				b.Fatalf("protocol %q: want http1 or h2c", proto)
			}
			defer func() {
				for _, c := range clients {
					c.Transport.(*http.Transport).CloseIdleConnections()
				}
			}()
			url := fmt.Sprintf("%s%s/jobs/%d/logs", srv, rest.Prefix, e.pubJob)
			if _, _, err := getLog(clients[0], url+"?end=1"); err != nil {
				b.Fatal(err)
			}
			var last, p50 time.Duration
			var inuse, allocated, sys uint64
			var hwm float64
			b.ResetTimer()
			for range b.N {
				_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM
				ms := startMemSampler()
				times := readConcurrently(b, clients, url, *readersN, size)
				ms.end()
				last, p50 = max(last, times[len(times)-1]), times[len(times)/2]
				i, a := ms.growth()
				inuse, allocated, sys = max(inuse, i), max(allocated, a), max(sys, ms.sys)
				hwm = max(hwm, procStatus("VmHWM"))
			}
			b.StopTimer()
			b.ReportMetric(last.Seconds(), "s-last-byte")
			b.ReportMetric(p50.Seconds(), "s-p50")
			b.ReportMetric(float64(size)*float64(*readersN)/1e6/last.Seconds(), "MB/s")
			b.ReportMetric(float64(inuse)/(1<<20), "MiB-heap-growth")
			b.ReportMetric(float64(allocated)/(1<<10)/float64(*readersN), "KiB-alloc/reader")
			b.ReportMetric(float64(sys)/(1<<20), "MiB-go-sys")
			b.ReportMetric(hwm, "MiB-VmHWM")
		})
	}
}

// h2cServer serves e's API over HTTP/1.1 and unencrypted HTTP/2 on a new
// loopback listener, as the real server does, and returns its URL.
func h2cServer(tb testing.TB, e *env) string {
	tb.Helper()
	srv := httptest.NewUnstartedServer(rest.New(e.App, nil))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv.URL
}

// checkLogBody is a sanity check shared by the tests: body holds lines
// [start, end) as fillLog wrote them.
func checkLogBody(tb testing.TB, body []byte, start, end int) {
	tb.Helper()
	var want []byte
	for n := start; n < end; n++ {
		want = append(logRecord(want, n), '\n')
	}
	if !bytes.Equal(body, want) {
		tb.Fatalf("lines %d..%d: got %d bytes, want %d", start, end, len(body), len(want))
	}
}
