// Package xmlrpc reads and writes XML-RPC (https://xmlrpc.com/spec.md) as
// LAVA's clients speak it: lavacli and scripts built on Python's
// xmlrpc.client with allow_none=True.
//
// Values map to Go as follows, both ways:
//
//	<int>, <i4>, <i8>         int64 (written as <int>, or <i8> beyond 32 bits)
//	<boolean>                 bool
//	<string>, untyped text    string
//	<double>                  float64
//	<dateTime.iso8601>        time.Time (written in UTC, 20061102T15:04:05)
//	<base64>                  Binary
//	<array>                   []any
//	<struct>                  map[string]any (written with sorted keys)
//	<nil/>                    nil (Python's allow_none extension)
//
// Writing also takes the other Go integer types, []string, []int64,
// map[string]string and Struct (members in a given order).
//
// Reading is bounded (Limits: body size, nesting depth, number of values)
// and refuses any DTD, so no entity can be declared or expanded; the XML
// decoder is strict. Every problem is an error that says where it is (the
// byte offset in the body) and what was expected; nothing panics.
package xmlrpc
