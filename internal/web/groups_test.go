package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// groupMembers reads a group back from the app as the admin; ok is false
// when it does not exist.
func (e *env) groupMembers(name string) (members []string, ok bool) {
	e.T.Helper()
	gs, err := e.App.ListGroups(context.Background(), e.Principal(admin))
	must(e.T, err)
	for _, g := range gs {
		if g.Name == name {
			return g.Members, true
		}
	}
	return nil, false
}

// TestGroups: only superusers see and change groups; creating, adding and
// removing a member and deleting are read back from the app; refused
// forms change nothing.
func TestGroups(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	for who, want := range [nIdent]int{303, 403, 403, 200} {
		hdr := map[string]string{}
		if who != anon {
			hdr["Authorization"] = "Token " + e.Tokens[who]
		}
		resp, body := e.send("GET", "/groups", "", nil, hdr)
		if resp.StatusCode != want {
			t.Errorf("GET /groups as %s: status %d, want %d", identNames[who], resp.StatusCode, want)
		}
		if want == 303 && !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET /groups as %s: redirected to %q", identNames[who], resp.Header.Get("Location"))
		}
		if want != 303 {
			checkPage(t, "GET /groups as "+identNames[who], body)
		}
	}
	_, body, _ := e.get(admin, "/users")
	if !strings.Contains(body, `href="/groups"`) {
		t.Error("the users page does not link the groups page")
	}

	// Refused posts, for anonymous callers and normal users.
	for _, who := range []int{anon, alice} {
		for path, form := range map[string]url.Values{
			"/groups":                    {"name": {"testers"}},
			"/groups/x/delete":           nil,
			"/groups/x/members":          {"username": {"alice"}},
			"/groups/x/members/a/remove": nil,
		} {
			if resp, _ := e.post(who, path, form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s as %s: status %d, want 403", path, identNames[who], resp.StatusCode)
			}
		}
	}
	if _, ok := e.groupMembers("testers"); ok {
		t.Fatal("a refused form created the group")
	}

	// Create, then a duplicate and an invalid name.
	resp, _ := e.post(admin, "/groups", url.Values{"name": {"testers"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/groups" {
		t.Fatalf("create group: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if m, ok := e.groupMembers("testers"); !ok || len(m) != 0 {
		t.Fatalf("created group: %v %v", m, ok)
	}
	resp, body = e.post(admin, "/groups", url.Values{"name": {"testers"}})
	checkPage(t, "duplicate group", body)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, `value="testers"`) {
		t.Errorf("duplicate group: status %d, no error or form not refilled\n%s", resp.StatusCode, body)
	}
	resp, body = e.post(admin, "/groups", url.Values{"name": {"bad name"}})
	checkPage(t, "invalid group", body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `value="bad name"`) {
		t.Errorf("invalid group name: status %d", resp.StatusCode)
	}

	// Members: add alice, refuse a second add and an unknown user.
	resp, _ = e.post(admin, "/groups/testers/members", url.Values{"username": {"alice"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add alice: status %d", resp.StatusCode)
	}
	if m, _ := e.groupMembers("testers"); !slices.Equal(m, []string{"alice"}) {
		t.Fatalf("members after adding alice: %v", m)
	}
	u, err := e.App.Store().GetUser(context.Background(), "alice")
	must(t, err)
	if !slices.Contains(u.Groups, "testers") {
		t.Errorf("alice's groups: %v", u.Groups)
	}
	for _, c := range []struct {
		path, user string
		want       int
	}{
		{"/groups/testers/members", "alice", http.StatusConflict},
		{"/groups/testers/members", "nobody", http.StatusBadRequest},
		{"/groups/nope/members", "bob", http.StatusNotFound},
	} {
		resp, body := e.post(admin, c.path, url.Values{"username": {c.user}})
		checkPage(t, "add "+c.user, body)
		if resp.StatusCode != c.want {
			t.Errorf("POST %s %s: status %d, want %d", c.path, c.user, resp.StatusCode, c.want)
		}
	}
	_, body, _ = e.get(admin, "/groups")
	checkPage(t, "groups with a member", body)
	for _, s := range []string{`<th scope="row">testers</th>`, `action="/groups/testers/members/alice/remove"`, `<option>bob</option>`} {
		if !strings.Contains(body, s) {
			t.Errorf("group page lacks %s\n%s", s, body)
		}
	}
	if strings.Contains(body, `<option>alice</option>`) {
		t.Error("alice, a member, is offered to be added again")
	}

	// Remove alice; removing her again is not found.
	resp, _ = e.post(admin, "/groups/testers/members/alice/remove", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove alice: status %d", resp.StatusCode)
	}
	if m, _ := e.groupMembers("testers"); len(m) != 0 {
		t.Errorf("members after removing alice: %v", m)
	}
	if resp, _ := e.post(admin, "/groups/testers/members/alice/remove", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("removing a non-member: status %d, want 404", resp.StatusCode)
	}

	// Delete; deleting again is not found.
	resp, _ = e.post(admin, "/groups/testers/delete", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete group: status %d", resp.StatusCode)
	}
	if _, ok := e.groupMembers("testers"); ok {
		t.Error("deleted group still listed")
	}
	if resp, _ := e.post(admin, "/groups/testers/delete", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleting a missing group: status %d, want 404", resp.StatusCode)
	}
}

// TestDeviceDictionary: the device page shows the dictionary, numbered, to
// superusers only; nobody else sees it or its section.
func TestDeviceDictionary(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ctx := context.Background()
	ap := e.Principal(admin)
	_, body, _ := e.get(admin, "/devices/d1")
	if !strings.Contains(body, "no dictionary") {
		t.Errorf("admin's page of a device without a dictionary lacks the note")
	}
	const marker = "dictmarker42"
	dict := "{% extends 'qemu.jinja2' %}\n{# " + marker + " #}\n{% set memory = 2048 %}\n"
	must(t, e.App.SetDeviceDictionary(ctx, ap, "d1", dict))
	if d, err := e.App.GetDevice(ctx, ap, "d1"); err != nil || d.Dictionary != dict {
		t.Fatalf("dictionary not stored: %v", err)
	}
	for who := range nIdent {
		code, body, _ := e.get(who, "/devices/d1")
		checkPage(t, "device page as "+identNames[who], body)
		if code != 200 {
			t.Fatalf("device page as %s: status %d", identNames[who], code)
		}
		shows := strings.Contains(body, marker)
		hint := strings.Contains(body, "qemu.jinja2") || strings.Contains(body, "ictionary")
		if who == admin {
			if !shows || !strings.Contains(body, `<span class="ln" id="D2">   2</span>  {# `+marker+` #}`) {
				t.Errorf("admin does not see the numbered dictionary\n%s", body)
			}
			continue
		}
		if shows || hint {
			t.Errorf("%s sees the dictionary or a hint of it\n%s", identNames[who], body)
		}
	}
}
