package sqlstore

import (
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// Scan targets that read the same column types from both drivers and map
// NULL to Go's zero value, the inverse of the arg helpers below.

// timeDest reads a time: an int64 of microseconds (SQLite), a time.Time
// (PostgreSQL) or NULL (zero time). The result is always UTC.
type timeDest struct{ p *time.Time }

func (d timeDest) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.p = time.Time{}
	case int64:
		*d.p = time.UnixMicro(x).UTC()
	case time.Time:
		*d.p = x.UTC()
	default:
		return fmt.Errorf("scan time: unexpected %T", v)
	}
	return nil
}

// strDest reads a nullable text column; NULL is "".
type strDest struct{ p *string }

func (d strDest) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.p = ""
	case string:
		*d.p = x
	case []byte:
		*d.p = string(x)
	default:
		return fmt.Errorf("scan string: unexpected %T", v)
	}
	return nil
}

// intDest reads a nullable integer column into any integer type; NULL is 0.
type intDest[T ~int | ~int64] struct{ p *T }

func (d intDest[T]) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.p = 0
	case int64:
		*d.p = T(x)
	default:
		return fmt.Errorf("scan integer: unexpected %T", v)
	}
	return nil
}

func asInt[T ~int | ~int64](p *T) sql.Scanner { return intDest[T]{p} }

// Arguments for nullable columns: the zero value is NULL.

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// normSet returns the sorted set of names in s, nil when empty: the store's
// canonical form of tag and group lists.
func normSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect reads every row of rows with scan and closes rows.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
