package logstore_test

import (
	"testing"

	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/logstore/logstoretest"
)

// TestConformance holds the file store to the contract of every log store
// (the database's LogStore runs the same suite in internal/store/sqlstore).
func TestConformance(t *testing.T) {
	logstoretest.Run(t, func(t *testing.T) logstore.Logs {
		s, err := logstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
