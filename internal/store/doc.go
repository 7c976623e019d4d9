// Package store defines the server's persistence port: the Store and Queries
// interfaces in terms of internal/lab types, with the filters and transition
// records they take. It imports no database driver; internal/store/sqlstore
// implements it and internal/store/storetest is the conformance suite every
// implementation must pass.
package store
