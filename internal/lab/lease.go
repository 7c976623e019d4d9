package lab

import "time"

// Lease is a named, expiring right held by one holder at a time: the
// server replicas on one database elect their scheduler leader with the
// lease "scheduler" (store.Queries.AcquireLease). A lease is free when no
// row exists or when it expired: at Expires or later, on the clock of the
// caller asking.
type Lease struct {
	// Name names the right ("scheduler").
	Name string
	// Holder names the holder: unique per process and run.
	Holder string
	// Expires is when the lease lapses unless its holder renews it.
	Expires time.Time
}
