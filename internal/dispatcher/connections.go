package dispatcher

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/jobdef"
)

// link is one of the job's console connections as the pipeline uses it:
// the device's primary console, or a secondary connection a new_connection
// boot opened. Its prompts are the shell prompts found on it (LAVA keeps
// them on its connection), so a boot on one connection leaves the
// prompts of the others alone.
type link struct {
	// name is the device's connection name (commands.connections); ""
	// for the primary console of commands.connect or of a device without
	// named connections.
	name    string
	primary bool
	conn    *Conn
	prompts []*regexp.Regexp
	// ns is the namespace the connection was last used under: its lines
	// are feedback records of it while another connection is in use.
	ns string
	// closer is a secondary connection's console, closed by finalize; nil
	// for the primary (closed with the device).
	closer io.Closer
}

// linkRef is the connection a job action uses, resolved when the pipeline
// is built (connectionsOf).
type linkRef struct {
	conn  string // the secondary connection's name; "" for the primary console
	ns    string // the namespace it is used under
	opens bool   // the action (a new_connection boot) opens it
}

// commonNS is LAVA's implicit namespace of actions without one.
const commonNS = "common"

// connectionsOf resolves the connection each action of job uses, as LAVA
// looks connections up by namespace: a new_connection boot opens its
// connection for its own namespace; any other action uses the connection
// of its connection-namespace when it names one, else of its own
// namespace; an action whose namespace has no connection of its own uses
// the primary console. It also returns the namespace the primary console
// is first used under ("common" without namespaces).
func connectionsOf(job *jobdef.Job) (refs []linkRef, primaryNS string) {
	byNS := map[string]string{} // namespace → secondary connection
	refs = make([]linkRef, len(job.Actions))
	for i := range job.Actions {
		a := &job.Actions[i]
		ns := cmp.Or(a.Namespace, commonNS)
		if a.Kind == jobdef.KindBoot && a.Boot != nil && a.Boot.Method == jobdef.NewConnection {
			refs[i] = linkRef{conn: a.Boot.Connection, ns: ns, opens: true}
			byNS[ns] = a.Boot.Connection
			continue
		}
		if a.ConnectionNamespace != "" {
			ns = a.ConnectionNamespace
		}
		refs[i] = linkRef{conn: byNS[ns], ns: ns}
		if refs[i].conn == "" && primaryNS == "" {
			primaryNS = ns
		}
	}
	return refs, cmp.Or(primaryNS, commonNS)
}

// connectionNamespaceProblem says why an action's connection-namespace
// cannot be used ("" when it can): it must be the namespace of an action
// of the job (LAVA fails the job when it finds no connection there).
func connectionNamespaceProblem(job *jobdef.Job, cn string) string {
	if cn == "" {
		return ""
	}
	var names []string
	for _, a := range job.Actions {
		if a.Namespace == cn {
			return ""
		}
		if a.Namespace != "" && !slices.Contains(names, a.Namespace) {
			names = append(names, a.Namespace)
		}
	}
	if len(names) == 0 {
		if cn == commonNS {
			return ""
		}
		return fmt.Sprintf("connection-namespace %q: the job's actions have no namespace", cn)
	}
	slices.Sort(names)
	return fmt.Sprintf("connection-namespace %q is not the namespace of any action of the job (namespaces: %s)", cn, strings.Join(names, ", "))
}

// addLink adds a connection of the job.
func (s *Session) addLink(l *link) { s.links = append(s.links, l) }

// linkOf returns the connection whose console is c; nil for none.
func (s *Session) linkOf(c *Conn) *link {
	for _, l := range s.links {
		if l.conn == c {
			return l
		}
	}
	return nil
}

// primaryLink returns the primary console's connection; nil before the
// device is open.
func (s *Session) primaryLink() *link {
	for _, l := range s.links {
		if l.primary {
			return l
		}
	}
	return nil
}

// secondary returns the open secondary connection name; nil when it is
// not open.
func (s *Session) secondary(name string) *link {
	for _, l := range s.links {
		if !l.primary && l.name == name {
			return l
		}
	}
	return nil
}

// activate makes l the connection in use: its lines are target records,
// those of the others feedback records of their namespaces. With one
// connection it changes nothing.
func (s *Session) activate(l *link) {
	if len(s.links) < 2 {
		return
	}
	for _, o := range s.links {
		o.conn.SetFeedback(o != l, o.ns)
	}
}

// Prompts returns the shell prompts found on the console the action uses
// (env.Conn), by the boot that brought up its shell; nil until then.
func (e *Env) Prompts() []*regexp.Regexp {
	if l := e.Session.linkOf(e.Conn); l != nil {
		return l.prompts
	}
	return nil
}

// SetPrompts records the shell prompts of the console the action uses
// (nil: it has no shell ready).
func (e *Env) SetPrompts(p []*regexp.Regexp) {
	l := e.Session.linkOf(e.Conn)
	if l == nil {
		l = &link{primary: e.Session.primaryLink() == nil, conn: e.Conn}
		e.Session.addLink(l)
	}
	l.prompts = p
}

// useLink points env at the connection ref names and makes it the one in
// use. A secondary connection that is not open is an error, unless the
// action is the one that opens it.
func (r *runner) useLink(env *Env, ref *linkRef) error {
	if ref == nil {
		return nil
	}
	var l *link
	if ref.conn == "" {
		l = env.Session.primaryLink()
	} else {
		l = env.Session.secondary(ref.conn)
	}
	if l == nil {
		if ref.conn == "" || ref.opens {
			return nil
		}
		return JobError("namespace %s uses the connection %q, which is not open: its new_connection boot did not complete", ref.ns, ref.conn)
	}
	l.ns = ref.ns
	env.Conn = l.conn
	env.Session.activate(l)
	return nil
}

// primaryConnection is the name of the device's primary connection ("" for
// devices without named connections).
func primaryConnection(dev Device) string {
	if b, ok := dev.(*board); ok {
		return b.primaryConnection()
	}
	return ""
}

// connectionOpener is a device with secondary connections (a board's
// commands.connections).
type connectionOpener interface {
	// openConnection opens the secondary connection name; ctx bounds
	// the opening only.
	openConnection(ctx context.Context, name string) (io.ReadWriteCloser, error)
}

// secondaryShell is a new_connection boot (LAVA's secondary-shell-action):
// it opens one of the device's secondary connections (connect-shell),
// makes it the connection of the action's namespace, and waits for its
// shell prompt, after logging in when the job has auto_login. It does not
// reset the device. Without prompts, the connection's prompt is the
// device's default-shell-prompt, not awaited (as in LAVA).
type secondaryShell struct {
	boot       *jobdef.Boot
	ns         string
	prompts    []*regexp.Regexp
	promptWhat string
	login      *autoLogin // nil without auto_login
	// defaultPrompt is the device's default-shell-prompt, the prompt of a
	// connection opened without prompts.
	defaultPrompt *regexp.Regexp
}

// newSecondaryShell builds a new_connection boot of namespace ns.
func newSecondaryShell(b *jobdef.Boot, ns string, cfg *deviceConfig) (*secondaryShell, error) {
	base, err := newBootAction(b, "", "")
	if err != nil {
		return nil, err
	}
	s := &secondaryShell{boot: b, ns: cmp.Or(ns, commonNS), prompts: base.prompts, promptWhat: base.promptWhat, login: base.login}
	if len(s.prompts) == 0 {
		p := cfg.Constants.DefaultShellPrompt
		if s.defaultPrompt, err = regexp.Compile(p); err != nil {
			return nil, fmt.Errorf("the device's default-shell-prompt %q is not a valid regular expression: %w", p, err)
		}
	}
	return s, nil
}

func (s *secondaryShell) Name() string { return "secondary-shell-action" }

func (s *secondaryShell) Run(ctx context.Context, env *Env) error {
	if s.boot.TransferOverlay != nil {
		env.Info("%s: transfer_overlay is not used (the overlay is on the device already, from its deploy)", s.Name())
	}
	if err := env.RunChild(ctx, &connectShell{name: s.boot.Connection, ns: s.ns}); err != nil {
		return err
	}
	l := env.Session.secondary(s.boot.Connection)
	env.Conn = l.conn
	l.prompts = nil
	if len(s.prompts) == 0 {
		l.prompts = []*regexp.Regexp{s.defaultPrompt}
		env.Info("no prompts: the shell prompt on connection %q is the device's default-shell-prompt %s (not awaited)", l.name, quotePattern(s.defaultPrompt.String()))
		return nil
	}
	if s.login != nil {
		if err := env.RunChild(ctx, s.login); err != nil {
			return err
		}
	} else {
		i, err := env.Conn.Expect(ctx, s.promptWhat+" on connection "+quoteConsole(l.name, quotedMax), withPanic(s.prompts...)...)
		if err != nil {
			return err
		}
		if i == len(s.prompts) {
			return kernelPanicked(ctx, env.Conn)
		}
	}
	l.prompts = s.prompts
	return nil
}

// connectShell opens a secondary connection of the device (LAVA's
// connect-shell), unless it is open already, makes it the connection in
// use and types an empty line, so that a login prompt or shell prompt
// shows again.
type connectShell struct {
	name, ns string
}

func (c *connectShell) Name() string { return "connect-shell" }

func (c *connectShell) Run(ctx context.Context, env *Env) error {
	l := env.Session.secondary(c.name)
	if l != nil {
		env.Debug("connection %q: already connected", c.name)
	} else {
		op, ok := env.Device.(connectionOpener)
		if !ok {
			return JobError("%s: %s devices have no secondary connections", c.Name(), env.Device.Kind())
		}
		env.Info("[%s] connecting to the shell on connection %q", c.ns, c.name)
		rw, err := op.openConnection(ctx, c.name)
		if err != nil {
			return err
		}
		l = &link{name: c.name, conn: NewConn(rw, env.Log), closer: rw}
		if cfg := env.DeviceConfig; cfg != nil && cfg.Rendered != nil {
			l.conn.SetCharacterDelay(cfg.Rendered.CharacterDelays.Boot)
		}
		env.Session.addLink(l)
	}
	l.ns = c.ns
	env.Session.activate(l)
	env.Conn = l.conn
	env.Debug("forcing a prompt")
	return env.Conn.Send(ctx, "")
}

// closeSecondaries closes the secondary connections the job opened and
// waits until everything they printed is logged (finalize).
func closeSecondaries(ctx context.Context, env *Env) error {
	var err error
	for _, l := range env.Session.links {
		if l.primary || l.closer == nil {
			continue
		}
		if cerr := l.closer.Close(); cerr != nil && err == nil {
			err = InfrastructureError("close the console %q of %s: %w", l.name, env.Device.Hostname(), cerr)
		}
		if werr := l.conn.Wait(ctx); werr != nil && err == nil {
			err = InfrastructureError("the console %q of %s did not end: %w", l.name, env.Device.Hostname(), werr)
		}
	}
	return err
}
