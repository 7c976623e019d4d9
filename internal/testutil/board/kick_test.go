package board

import (
	"io"
	"testing"
	"time"
)

// TestSecondClient checks ser2net's behaviour for a second telnet client:
// refused while the first holds the line, or, with KickOldUser, taking it
// over.
func TestSecondClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		kick    bool
		wantCut int    // which client ser2net closes: 1 or 2
		want    string // what it receives, telnet negotiation aside
	}{
		{"refused", false, 2, "Port already in use\r\n"},
		{"kickolduser", true, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := Start(t, Options{Name: "second-" + tc.name, KickOldUser: tc.kick})
			c1 := dialLine(t, b.TelnetAddr())
			waitLine(t, b, true) // ser2net serves the first client
			c2 := dialLine(t, b.TelnetAddr())
			cut, kept := c2, c1
			if tc.wantCut == 1 {
				cut, kept = c1, c2
			}
			cut.c.SetReadDeadline(time.Now().Add(30 * time.Second))
			data, err := io.ReadAll(cut.c)
			if err != nil {
				t.Fatalf("client %d not closed: %v (got %q)", tc.wantCut, err, data)
			}
			cut.decode(data) // drop the telnet negotiation
			if got := cut.seen.String(); got != tc.want {
				t.Fatalf("client %d got %q (raw %q), want %q", tc.wantCut, got, data, tc.want)
			}
			kept.c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := kept.c.Read(make([]byte, 256)); err == io.EOF {
				t.Fatalf("the other client was closed too")
			}
		})
	}
}
