package storetest

import (
	"errors"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Device-type templates.

// qemuTemplate is a template as an admin moving from LAVA would load it.
const qemuTemplate = "{% extends 'base.jinja2' %}\n{% set console_device = console_device | default('ttyS0') %}\n{# café ✓ #}\n"

// testTemplatesCRUD: set creates then replaces (with a new Updated), get
// returns the text, list returns names and times by name without texts,
// delete removes; a missing template is ErrNotFound everywhere.
func testTemplatesCRUD(f *fx) {
	list, err := f.s.ListDeviceTemplates(f.ctx)
	f.ok(err, "list empty")
	if len(list) != 0 {
		f.t.Errorf("fresh store lists templates %v", list)
	}

	lo := time.Now()
	f.ok(f.s.SetDeviceTemplate(f.ctx, "qemu", qemuTemplate), "set qemu")
	f.ok(f.s.SetDeviceTemplate(f.ctx, "base-uboot", "{# base #}\n"), "set base-uboot")
	hi := time.Now()
	qemu, err := f.s.GetDeviceTemplate(f.ctx, "qemu")
	f.ok(err, "get qemu")
	if qemu.Name != "qemu" || qemu.Text != qemuTemplate {
		f.t.Errorf("get qemu = %q %q, want %q %q", qemu.Name, qemu.Text, "qemu", qemuTemplate)
	}
	f.between(qemu.Updated, lo, hi, "qemu updated")
	base, err := f.s.GetDeviceTemplate(f.ctx, "base-uboot")
	f.ok(err, "get base-uboot")

	list, err = f.s.ListDeviceTemplates(f.ctx)
	f.ok(err, "list")
	f.eq([]lab.DeviceTemplate{{Name: "base-uboot", Updated: base.Updated}, {Name: "qemu", Updated: qemu.Updated}}, list, "list by name, no texts")

	lo = time.Now()
	f.ok(f.s.SetDeviceTemplate(f.ctx, "qemu", "{# replaced #}\n"), "replace qemu")
	hi = time.Now()
	got, err := f.s.GetDeviceTemplate(f.ctx, "qemu")
	f.ok(err, "get replaced")
	if got.Text != "{# replaced #}\n" {
		f.t.Errorf("replaced text = %q", got.Text)
	}
	f.between(got.Updated, lo, hi, "replaced updated")
	if got.Updated.Before(qemu.Updated) {
		f.t.Errorf("replace moved Updated back: %v < %v", got.Updated, qemu.Updated)
	}

	f.ok(f.s.SetDeviceTemplate(f.ctx, "empty", ""), "set empty text")
	got, err = f.s.GetDeviceTemplate(f.ctx, "empty")
	f.ok(err, "get empty text")
	if got.Name != "empty" || got.Text != "" {
		f.t.Errorf("empty template = %+v", got)
	}

	f.ok(f.s.DeleteDeviceTemplate(f.ctx, "qemu"), "delete qemu")
	_, err = f.s.GetDeviceTemplate(f.ctx, "qemu")
	f.is(err, lab.ErrNotFound, "get deleted")
	f.is(f.s.DeleteDeviceTemplate(f.ctx, "qemu"), lab.ErrNotFound, "delete twice")
	list, err = f.s.ListDeviceTemplates(f.ctx)
	f.ok(err, "list after delete")
	f.eq([]lab.DeviceTemplate{{Name: "base-uboot", Updated: base.Updated}, {Name: "empty", Updated: got.Updated}}, list, "list after delete")
}

// testTemplatesErrors: an empty name, and text or names one database would
// refuse, are ErrInvalid and store nothing; missing names are ErrNotFound.
func testTemplatesErrors(f *fx) {
	f.is(f.s.SetDeviceTemplate(f.ctx, "", "x"), lab.ErrInvalid, "set empty name")
	f.is(f.s.SetDeviceTemplate(f.ctx, "qemu", nulText), lab.ErrInvalid, "set NUL text")
	f.is(f.s.SetDeviceTemplate(f.ctx, "qemu", invalidUTF8), lab.ErrInvalid, "set invalid UTF-8 text")
	f.is(f.s.SetDeviceTemplate(f.ctx, invalidUTF8, "x"), lab.ErrInvalid, "set invalid UTF-8 name")
	_, err := f.s.GetDeviceTemplate(f.ctx, "qemu")
	f.is(err, lab.ErrNotFound, "get missing")
	_, err = f.s.GetDeviceTemplate(f.ctx, nulText)
	f.is(err, lab.ErrInvalid, "get NUL name")
	f.is(f.s.DeleteDeviceTemplate(f.ctx, "qemu"), lab.ErrNotFound, "delete missing")
	list, err := f.s.ListDeviceTemplates(f.ctx)
	f.ok(err, "list")
	if len(list) != 0 {
		f.t.Errorf("refused sets stored %v", list)
	}
}

// testTemplatesLarge: a 1 MiB template (the API's limit) round-trips
// byte for byte.
func testTemplatesLarge(f *fx) {
	line := "{{ 'é✓' }} {% if x %}{% endif %}\n"
	text := strings.Repeat(line, (1<<20)/len(line))
	text += strings.Repeat("#", 1<<20-len(text))
	if len(text) != 1<<20 {
		f.t.Fatalf("built %d bytes", len(text))
	}
	f.ok(f.s.SetDeviceTemplate(f.ctx, "big", text), "set 1 MiB")
	got, err := f.s.GetDeviceTemplate(f.ctx, "big")
	f.ok(err, "get 1 MiB")
	if got.Text != text {
		f.t.Errorf("1 MiB template came back as %d bytes, differing", len(got.Text))
	}
}

// testTemplatesDeleteType: deleting a device type deletes the template of
// its name, and only that one; a refused delete keeps it.
func testTemplatesDeleteType(f *fx) {
	f.deviceType("qemu")
	f.deviceType("bbb")
	f.device("bbb-01", "bbb")
	for _, n := range []string{"qemu", "bbb", "base-uboot"} {
		f.ok(f.s.SetDeviceTemplate(f.ctx, n, "{# "+n+" #}\n"), "set "+n)
	}
	f.ok(f.s.DeleteDeviceType(f.ctx, "qemu"), "delete type qemu")
	_, err := f.s.GetDeviceTemplate(f.ctx, "qemu")
	f.is(err, lab.ErrNotFound, "template of the deleted type")
	f.is(f.s.DeleteDeviceType(f.ctx, "bbb"), lab.ErrConflict, "delete type bbb in use")
	for _, n := range []string{"bbb", "base-uboot"} {
		got, err := f.s.GetDeviceTemplate(f.ctx, n)
		f.ok(err, "get "+n+" after the deletes")
		if got.Text != "{# "+n+" #}\n" {
			f.t.Errorf("template %s = %q", n, got.Text)
		}
	}
}

// testTemplatesInTx: template writes are part of InTx's transaction:
// rolled back with it, and seen by its reads.
func testTemplatesInTx(f *fx) {
	f.ok(f.s.SetDeviceTemplate(f.ctx, "kept", "old"), "set kept")
	boom := errors.New("boom")
	err := f.s.InTx(f.ctx, func(q store.Queries) error {
		if err := q.SetDeviceTemplate(f.ctx, "qemu", "new"); err != nil {
			return err
		}
		if err := q.SetDeviceTemplate(f.ctx, "kept", "changed"); err != nil {
			return err
		}
		if err := q.DeleteDeviceTemplate(f.ctx, "kept"); err != nil {
			return err
		}
		if _, err := q.GetDeviceTemplate(f.ctx, "kept"); !errors.Is(err, lab.ErrNotFound) {
			f.t.Errorf("inside the transaction the deleted template reads as %v", err)
		}
		got, err := q.GetDeviceTemplate(f.ctx, "qemu")
		if err != nil || got.Text != "new" {
			f.t.Errorf("inside the transaction qemu = %+v, %v", got, err)
		}
		return boom
	})
	f.is(err, boom, "rolled back InTx")
	_, err = f.s.GetDeviceTemplate(f.ctx, "qemu")
	f.is(err, lab.ErrNotFound, "template set in a rolled-back transaction")
	got, err := f.s.GetDeviceTemplate(f.ctx, "kept")
	f.ok(err, "get kept")
	if got.Text != "old" {
		f.t.Errorf("kept = %q after the rollback, want %q", got.Text, "old")
	}
}
