// Package storetest is the conformance suite of the store.Store contract.
//
// Every implementation of store.Store (internal/store/sqlstore on SQLite
// and on PostgreSQL, and any fake written for other packages' tests) runs
// it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
//
// Run starts one parallel subtest per behaviour, each on a fresh, empty
// store: create/read/update/delete of every object with their ErrNotFound,
// ErrConflict and ErrInvalid cases, alias resolution, device-type
// templates (replace, listing without texts, 1 MiB texts, deletion with
// their type, InTx), device and worker
// transitions, the full round trip of a job, ListJobs filters, paging and
// the visibility matrix, the queue, every TransitionJob path and its
// device side effects, health-check bookkeeping, users, groups, tokens,
// InTx commit and rollback, and races in which several goroutines try to
// assign one job to many devices or many jobs to one device: exactly one
// must win each race. The package is imported by tests only.
package storetest
