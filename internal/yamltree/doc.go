// Package yamltree reads one YAML document into a small tree of positioned
// nodes, bounded so that hostile input costs linear time and bounded memory.
//
// It is the shared reader behind Basalt's hand-checked YAML formats (device
// dictionaries, test definitions): callers decode the tree themselves and
// report problems at the Line:Column that each Node carries.
//
// Read lexes the source with github.com/goccy/go-yaml, checks the token
// stream against Limits before the parser runs (nesting depth and keys per
// block mapping: the parser's cost grows with their square), parses, and
// builds the tree in document order so that each alias sees only the
// anchors before it. Aliased subtrees are shared, never copied, and the
// nodes that aliases and merge keys add are counted against
// Limits.MaxExpansion ("billion laughs" documents). Policy selects what the
// caller accepts: tags, merge keys, how non-string keys are spelled.
//
// Source that is not UTF-8, or holds a NUL character, is refused at its
// first bad byte (Code Encoding) before anything else reads it.
//
// Every failure is an *Error with a position and a Code, so that callers can
// word the message for their format while keeping the position.
package yamltree
