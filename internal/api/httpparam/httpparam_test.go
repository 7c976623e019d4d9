package httpparam

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
)

func TestPathID(t *testing.T) {
	for _, c := range []struct {
		v    string
		want int64
		err  error
	}{{"42", 42, nil}, {"0", 0, lab.ErrNotFound}, {"-1", 0, lab.ErrNotFound}, {"x", 0, lab.ErrNotFound}, {"99999999999999999999", 0, lab.ErrNotFound}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetPathValue("id", c.v)
		got, err := PathID(r, "id")
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("PathID(%q) = %d, %v; want %d, %v", c.v, got, err, c.want, c.err)
		}
	}
}

func TestQueryInt(t *testing.T) {
	for _, c := range []struct {
		q    string
		want int
		err  error
	}{{"", 7, nil}, {"n=3", 3, nil}, {"n=0", 0, nil}, {"n=-2", 0, lab.ErrInvalid}, {"n=abc", 0, lab.ErrInvalid}} {
		r := httptest.NewRequest("GET", "/?"+c.q, nil)
		got, err := QueryInt(r, "n", 7)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("QueryInt(%q) = %d, %v; want %d, %v", c.q, got, err, c.want, c.err)
		}
	}
}
