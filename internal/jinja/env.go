package jinja

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Limits bound the work and memory one render may use, so that a hostile
// template (device dictionaries are uploaded by users) ends in an error
// rather than exhausting the server. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	// MaxSourceBytes is the largest template source accepted.
	MaxSourceBytes int
	// MaxNesting bounds the nesting of statements and expressions.
	MaxNesting int
	// MaxTemplateDepth bounds the chain of extends, include and import.
	MaxTemplateDepth int
	// MaxOutputBytes bounds the rendered output and every string or list
	// built while rendering.
	MaxOutputBytes int
	// MaxIterations bounds the loop iterations (and range() sizes) of a
	// whole render.
	MaxIterations int
	// MaxCallDepth bounds the nesting of macro calls and block renders.
	MaxCallDepth int
}

// DefaultLimits are generous for LAVA's templates (the largest device
// type is a few KiB and renders to a few KiB).
var DefaultLimits = Limits{
	MaxSourceBytes:   1 << 20,
	MaxNesting:       200,
	MaxTemplateDepth: 32,
	MaxOutputBytes:   16 << 20,
	MaxIterations:    1_000_000,
	MaxCallDepth:     64,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxSourceBytes > 0 {
		d.MaxSourceBytes = l.MaxSourceBytes
	}
	if l.MaxNesting > 0 {
		d.MaxNesting = l.MaxNesting
	}
	if l.MaxTemplateDepth > 0 {
		d.MaxTemplateDepth = l.MaxTemplateDepth
	}
	if l.MaxOutputBytes > 0 {
		d.MaxOutputBytes = l.MaxOutputBytes
	}
	if l.MaxIterations > 0 {
		d.MaxIterations = l.MaxIterations
	}
	if l.MaxCallDepth > 0 {
		d.MaxCallDepth = l.MaxCallDepth
	}
	return d
}

// Filter is a filter added to an Env: value is the filtered value, args
// the positional arguments and kwargs the keyword arguments (nil when
// none), all in the template value model (see FromGo).
type Filter func(value any, args []any, kwargs map[string]any) (any, error)

// Options configure an Env.
type Options struct {
	// TrimBlocks removes the first newline after a block tag or comment,
	// like Jinja2's trim_blocks.
	TrimBlocks bool
	// LStripBlocks strips spaces and tabs from the start of a line up to
	// a block tag or comment, like Jinja2's lstrip_blocks.
	LStripBlocks bool
	// Loader finds templates named by Render, extends, include and import.
	Loader Loader
	// Filters are added to (or replace) the built-in filters.
	Filters map[string]Filter
	// Limits bound every render (zero fields take DefaultLimits).
	Limits Limits
}

// Env is a template environment: syntax options, a loader, filters and
// limits, like a jinja2.sandbox.SandboxedEnvironment with autoescape off.
// Parsed templates are cached by name; an Env is safe for concurrent use.
type Env struct {
	opts    Options
	limits  Limits
	filters map[string]filterFunc

	mu    sync.Mutex
	cache map[string]*Template
}

// New returns an Env with the given options.
func New(opts Options) *Env {
	e := &Env{opts: opts, limits: opts.Limits.withDefaults(), cache: map[string]*Template{}}
	e.filters = make(map[string]filterFunc, len(builtinFilters)+len(opts.Filters))
	for k, v := range builtinFilters {
		e.filters[k] = v
	}
	for k, f := range opts.Filters {
		e.filters[k] = wrapFilter(f)
	}
	return e
}

// NewLAVA returns an Env with LAVA's settings for device dictionaries and
// device-type templates: trim_blocks on, lstrip_blocks off, autoescape off,
// and LAVA's extra filters shlex_quote, yaml_quote and
// qemu_guest_fs_interface.
func NewLAVA(loader Loader) *Env {
	e := New(Options{TrimBlocks: true, Loader: loader})
	for k, v := range lavaFilters {
		e.filters[k] = v
	}
	return e
}

// Template is a parsed template.
type Template struct {
	name       string
	body       []node
	blocks     map[string]*blockStmt
	hasExtends bool
}

// Name returns the template's name.
func (t *Template) Name() string { return t.name }

// Parse parses src as the template name. It does not resolve extends or
// include; Render does.
func (e *Env) Parse(name, src string) (*Template, error) {
	if len(src) > e.limits.MaxSourceBytes {
		return nil, &Error{Template: name, Msg: fmt.Sprintf("template is larger than %d bytes", e.limits.MaxSourceBytes)}
	}
	src = normalizeSource(src)
	toks, err := tokenize(name, src, e.opts.TrimBlocks, e.opts.LStripBlocks, len(src)+16)
	if err != nil {
		return nil, err
	}
	p := &parser{name: name, toks: toks, maxDepth: e.limits.MaxNesting, env: e, blocks: map[string]*blockStmt{}}
	body, err := p.parseTemplate()
	if err != nil {
		return nil, err
	}
	return &Template{name: name, body: body, blocks: p.blocks, hasExtends: p.hasExt}, nil
}

// ErrNotFound is wrapped by loaders when a template does not exist.
var ErrNotFound = errors.New("template not found")

// getTemplate loads and parses a template through the loader, caching it.
func (e *Env) getTemplate(name string) (*Template, error) {
	e.mu.Lock()
	t, ok := e.cache[name]
	e.mu.Unlock()
	if ok {
		return t, nil
	}
	if e.opts.Loader == nil {
		return nil, fmt.Errorf("%s: %w (no loader)", name, ErrNotFound)
	}
	src, err := e.opts.Loader.Load(name)
	if err != nil {
		return nil, err
	}
	t, err = e.Parse(name, src)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.cache[name] = t
	e.mu.Unlock()
	return t, nil
}

// Render loads the template name through the Env's loader and renders it
// with ctx (converted with FromGo: plain maps get sorted keys, pass a
// *Dict to keep another order).
func (e *Env) Render(name string, ctx map[string]any) (string, error) {
	t, err := e.getTemplate(name)
	if err != nil {
		return "", wrapLoadErr(name, err)
	}
	return e.Execute(t, ctx)
}

// RenderString parses src as the template name and renders it with ctx;
// extends and include inside it still go through the loader.
func (e *Env) RenderString(name, src string, ctx map[string]any) (string, error) {
	t, err := e.Parse(name, src)
	if err != nil {
		return "", err
	}
	return e.Execute(t, ctx)
}

// Execute renders a parsed template with ctx.
func (e *Env) Execute(t *Template, ctx map[string]any) (string, error) {
	st := &state{env: e, lim: e.limits}
	base := make(map[string]any, len(ctx)+8)
	for k, v := range globals {
		base[k] = v
	}
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		base[k] = FromGo(ctx[k])
	}
	var out strings.Builder
	st.out = &out
	if err := st.renderRoot(t, newCtxt(st, base, t)); err != nil {
		return "", err
	}
	return out.String(), nil
}

func wrapLoadErr(name string, err error) error {
	var je *Error
	if errors.As(err, &je) {
		return err
	}
	return &Error{Template: name, Msg: err.Error()}
}
