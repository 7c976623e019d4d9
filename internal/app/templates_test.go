package app_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// errUnclosed is what the test's template checker returns for a template
// holding an unclosed "{% if", as the Jinja2 parser would.
var errUnclosed = errors.New("2:1: unexpected end of template: the 'if' block is not closed")

// templateChecker is a Config.CheckTemplate that records its calls and
// refuses templates with an unclosed if.
type templateChecker struct {
	mu    sync.Mutex
	calls []string // "name:len"
}

func (c *templateChecker) check(name, text string) error {
	c.mu.Lock()
	c.calls = append(c.calls, fmt.Sprintf("%s:%d", name, len(text)))
	c.mu.Unlock()
	if strings.Contains(text, "{% if") && !strings.Contains(text, "{% endif") {
		return errUnclosed
	}
	return nil
}

func (c *templateChecker) took() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

// templateLab is an app with the template checker, device types qemu and
// bbb, an admin and a user.
type templateLab struct {
	app          *app.App
	chk          *templateChecker
	admin, alice auth.Principal
}

func newTemplateLab(t *testing.T, b labtest.Backend) *templateLab {
	t.Helper()
	chk := &templateChecker{}
	a := app.New(b.Open(t), app.Config{CheckTemplate: chk.check})
	ctx := t.Context()
	must(t, a.Bootstrap(ctx))
	adm, err := a.CreateSuperuser(ctx, "admin", "", "")
	must(t, err)
	l := &templateLab{app: a, chk: chk, admin: principalOf(t, adm)}
	u, err := a.CreateUser(ctx, l.admin, app.NewUser{Username: "alice"})
	must(t, err)
	l.alice = principalOf(t, u)
	for _, n := range []string{"qemu", "bbb"} {
		must(t, a.CreateDeviceType(ctx, l.admin, lab.DeviceType{Name: n}))
	}
	return l
}

// text returns the stored template of typ as alice sees it, "" with the
// error when there is none.
func (l *templateLab) text(t *testing.T, typ string) string {
	t.Helper()
	tm, err := l.app.DeviceTypeTemplate(t.Context(), l.alice, typ)
	if err != nil {
		return "error: " + err.Error()
	}
	if tm.Name != typ || tm.Updated.IsZero() {
		t.Errorf("template of %s: name %q, updated %v", typ, tm.Name, tm.Updated)
	}
	return tm.Text
}

const qemuJinja = "{% extends 'base.jinja2' %}\n{% set console_device = console_device | default('ttyS0') %}\n"

// TestDeviceTypeTemplates: admins set, read, list, replace, remove and
// delete a type's template; anyone reads it; the text's checks and the
// syntax hook refuse bad templates and leave the stored one as it was.
func TestDeviceTypeTemplates(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			l := newTemplateLab(t, b)
			a := l.app

			must(t, a.SetDeviceTypeTemplate(ctx, l.admin, "qemu", qemuJinja))
			if got := l.chk.took(); len(got) != 1 || got[0] != fmt.Sprintf("qemu:%d", len(qemuJinja)) {
				t.Errorf("checker calls %q, want one for qemu", got)
			}
			if got := l.text(t, "qemu"); got != qemuJinja {
				t.Errorf("alice reads %q, want %q", got, qemuJinja)
			}
			anon, err := a.DeviceTypeTemplate(ctx, auth.Principal{}, "qemu")
			if err != nil || anon.Text != qemuJinja {
				t.Errorf("anonymous read: %q, %v", anon.Text, err)
			}

			// Refusals: the stored template stays as it was.
			big := strings.Repeat("x", app.MaxTemplateSize+1)
			cases := []struct {
				name  string
				run   func() error
				want  error
				msg   string // substring of the message
				calls int    // checker calls
			}{
				{"user sets", func() error { return a.SetDeviceTypeTemplate(ctx, l.alice, "qemu", "x") }, lab.ErrForbidden, "set device-type template", 0},
				{"anonymous sets", func() error { return a.SetDeviceTypeTemplate(ctx, auth.Principal{}, "qemu", "x") }, lab.ErrUnauthenticated, "set device-type template", 0},
				{"user removes", func() error { return a.SetDeviceTypeTemplate(ctx, l.alice, "qemu", "") }, lab.ErrForbidden, "set device-type template", 0},
				{"user deletes", func() error { return a.DeleteDeviceTypeTemplate(ctx, l.alice, "qemu") }, lab.ErrForbidden, "delete device-type template", 0},
				{"too large", func() error { return a.SetDeviceTypeTemplate(ctx, l.admin, "qemu", big) },
					lab.ErrInvalid, "template of device type qemu is 1048577 bytes; the limit is 1048576 (1 MiB)", 0},
				{"NUL", func() error { return a.SetDeviceTypeTemplate(ctx, l.admin, "qemu", "a\x00b") },
					lab.ErrInvalid, "template of device type qemu holds a NUL character (at byte 1)", 0},
				{"not UTF-8", func() error { return a.SetDeviceTypeTemplate(ctx, l.admin, "qemu", "caf\xe9") },
					lab.ErrInvalid, "template of device type qemu is not valid UTF-8 text (bad byte 0xe9 at byte 3)", 0},
				{"checker refuses", func() error {
					return a.SetDeviceTypeTemplate(ctx, l.admin, "qemu", "{% extends 'base.jinja2' %}\n{% if x %}\n")
				},
					errUnclosed, "invalid: template of device type qemu: " + errUnclosed.Error(), 1},
				{"unknown type", func() error { return a.SetDeviceTypeTemplate(ctx, l.admin, "nope", qemuJinja) }, lab.ErrNotFound, `device type "nope"`, 1},
				{"remove on unknown type", func() error { return a.SetDeviceTypeTemplate(ctx, l.admin, "nope", "") }, lab.ErrNotFound, `device type "nope"`, 0},
				{"delete on unknown type", func() error { return a.DeleteDeviceTypeTemplate(ctx, l.admin, "nope") }, lab.ErrNotFound, `device type "nope"`, 0},
				{"delete none", func() error { return a.DeleteDeviceTypeTemplate(ctx, l.admin, "bbb") }, lab.ErrNotFound, "device type bbb has no stored template", 0},
			}
			for _, c := range cases {
				err := c.run()
				if !errors.Is(err, c.want) || !strings.Contains(fmt.Sprint(err), c.msg) {
					t.Errorf("%s: err = %v, want %v with %q", c.name, err, c.want, c.msg)
				}
				if got := l.chk.took(); len(got) != c.calls {
					t.Errorf("%s: checker calls %q, want %d", c.name, got, c.calls)
				}
			}
			if err := a.SetDeviceTypeTemplate(ctx, l.admin, "qemu", "{% if x %}"); !errors.Is(err, lab.ErrInvalid) {
				t.Errorf("a refused template is not lab.ErrInvalid: %v", err)
			}
			l.chk.took()
			if got := l.text(t, "qemu"); got != qemuJinja {
				t.Errorf("after the refusals qemu's template is %q", got)
			}
			for _, typ := range []string{"nope", "bbb"} {
				_, err := a.DeviceTypeTemplate(ctx, l.alice, typ)
				if !errors.Is(err, lab.ErrNotFound) {
					t.Errorf("read %s: %v, want ErrNotFound", typ, err)
				}
			}
			_, err = a.DeviceTypeTemplate(ctx, l.alice, "bbb")
			if want := "device type bbb has no stored template: not found"; fmt.Sprint(err) != want {
				t.Errorf("read bbb: %q, want %q", err, want)
			}

			// The largest template is taken; listing is for admins, without texts.
			exact := strings.Repeat("y", app.MaxTemplateSize)
			must(t, a.SetDeviceTypeTemplate(ctx, l.admin, "bbb", exact))
			if got := l.text(t, "bbb"); got != exact {
				t.Errorf("1 MiB template read back as %d bytes", len(got))
			}
			if _, err := a.DeviceTemplates(ctx, l.alice); !errors.Is(err, lab.ErrForbidden) {
				t.Errorf("user lists: %v, want ErrForbidden", err)
			}
			list, err := a.DeviceTemplates(ctx, l.admin)
			must(t, err)
			var names []string
			for _, tm := range list {
				names = append(names, fmt.Sprintf("%s %q %t", tm.Name, tm.Text, tm.Updated.IsZero()))
			}
			if want := []string{`bbb "" false`, `qemu "" false`}; fmt.Sprint(names) != fmt.Sprint(want) {
				t.Errorf("list = %q, want %q", names, want)
			}

			// Empty text removes, and removing twice is fine; delete is strict.
			must(t, a.SetDeviceTypeTemplate(ctx, l.admin, "qemu", ""))
			must(t, a.SetDeviceTypeTemplate(ctx, l.admin, "qemu", ""))
			if got := l.chk.took(); len(got) != 1 { // the 1 MiB set only
				t.Errorf("checker calls %q, want only the 1 MiB set's", got)
			}
			if got := l.text(t, "qemu"); got != "error: device type qemu has no stored template: not found" {
				t.Errorf("after removal: %q", got)
			}
			must(t, a.DeleteDeviceTypeTemplate(ctx, l.admin, "bbb"))
			if err := a.DeleteDeviceTypeTemplate(ctx, l.admin, "bbb"); !errors.Is(err, lab.ErrNotFound) {
				t.Errorf("delete twice: %v", err)
			}

			// Deleting a type deletes its template: a new type of that name has none.
			must(t, a.SetDeviceTypeTemplate(ctx, l.admin, "qemu", qemuJinja))
			must(t, a.DeleteDeviceType(ctx, l.admin, "qemu"))
			must(t, a.CreateDeviceType(ctx, l.admin, lab.DeviceType{Name: "qemu"}))
			if _, err := a.DeviceTypeTemplate(ctx, l.alice, "qemu"); !errors.Is(err, lab.ErrNotFound) {
				t.Errorf("re-created type inherits a template: %v", err)
			}
			if list, err := a.DeviceTemplates(ctx, l.admin); err != nil || len(list) != 0 {
				t.Errorf("templates left: %v, %v", list, err)
			}
		})
	}
}

// TestDeviceTypeTemplateNoChecker: without Config.CheckTemplate any text
// within the limits is stored.
func TestDeviceTypeTemplateNoChecker(t *testing.T) {
	b := labtest.Backends()[0]
	a := app.New(b.Open(t), app.Config{})
	ctx := t.Context()
	must(t, a.Bootstrap(ctx))
	adm, err := a.CreateSuperuser(ctx, "admin", "", "")
	must(t, err)
	admin := principalOf(t, adm)
	must(t, a.CreateDeviceType(ctx, admin, lab.DeviceType{Name: "qemu"}))
	must(t, a.SetDeviceTypeTemplate(ctx, admin, "qemu", "{% if x %}"))
	tm, err := a.DeviceTypeTemplate(ctx, admin, "qemu")
	if err != nil || tm.Text != "{% if x %}" {
		t.Errorf("stored %q, %v", tm.Text, err)
	}
}
