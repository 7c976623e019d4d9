package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestAccountPages checks who may open the account pages, on both stores.
func TestAccountPages(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			for _, c := range []struct {
				path string
				want [nIdent]int
			}{
				{"/tokens", [nIdent]int{303, 200, 200, 200}},
				{"/users", [nIdent]int{403, 403, 403, 200}},
				{"/jobs/new", [nIdent]int{303, 200, 200, 200}},
			} {
				for who := range nIdent {
					hdr := map[string]string{}
					if who != anon {
						hdr["Authorization"] = "Token " + e.Tokens[who]
					}
					resp, body := e.send("GET", c.path, "", nil, hdr)
					if resp.StatusCode != c.want[who] {
						t.Errorf("GET %s as %s: status %d, want %d", c.path, identNames[who], resp.StatusCode, c.want[who])
					}
					if resp.StatusCode == 303 && !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
						t.Errorf("GET %s as %s: redirected to %q, not the login page", c.path, identNames[who], resp.Header.Get("Location"))
					}
					if resp.StatusCode != 303 {
						checkPage(t, "GET "+c.path+" as "+identNames[who], body)
					}
				}
			}
		})
	}
}

var secretRE = regexp.MustCompile(`<code id="new-secret">([^<]+)</code>`)

func TestTokens(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ctx := context.Background()
	_, body, _ := e.get(alice, "/tokens")
	if !strings.Contains(body, "<td>test</td>") || strings.Contains(body, "new-secret") {
		t.Errorf("alice's tokens lack her test token or show a secret:\n%s", body)
	}

	resp, body := e.post(alice, "/tokens", url.Values{"description": {"ci <runner>"}, "days": {"30"}})
	checkPage(t, "token created", body)
	m := secretRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(body, "ci &lt;runner&gt;") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create token: status %d, secret %v\n%s", resp.StatusCode, m, body)
	}
	secret := m[1]
	p, err := e.App.Authenticate(ctx, "", secret)
	if err != nil || p.Username != "alice" {
		t.Fatalf("the new secret does not authenticate alice: %v %v", p, err)
	}
	toks, err := e.App.ListTokens(ctx, p, "alice")
	must(t, err)
	var tok lab.Token
	for _, x := range toks {
		if x.Description == "ci <runner>" {
			tok = x
		}
	}
	if tok.ID == 0 || tok.Expires.IsZero() {
		t.Fatalf("created token not listed or without expiry: %+v", toks)
	}
	_, body, _ = e.get(alice, "/tokens")
	if strings.Contains(body, secret) || !strings.Contains(body, fmt.Sprintf(`action="/tokens/%d/revoke"`, tok.ID)) {
		t.Errorf("token list shows the secret again or lacks the revoke form")
	}
	if resp, _ := e.post(alice, "/tokens", url.Values{"days": {"0"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("zero days: status %d, want 400", resp.StatusCode)
	}
	if resp, _ := e.post(anon, "/tokens", url.Values{"description": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous create: status %d, want 403", resp.StatusCode)
	}

	revoke := fmt.Sprintf("/tokens/%d/revoke", tok.ID)
	for who, want := range map[int]int{anon: 403, bob: 404} {
		if resp, _ := e.post(who, revoke, nil); resp.StatusCode != want {
			t.Errorf("revoke alice's token as %s: status %d, want %d", identNames[who], resp.StatusCode, want)
		}
	}
	if _, err := e.App.Authenticate(ctx, "", secret); err != nil {
		t.Fatalf("refused revokes revoked the token: %v", err)
	}
	resp, _ = e.post(alice, revoke, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/tokens" {
		t.Errorf("revoke: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := e.App.Authenticate(ctx, "", secret); err == nil {
		t.Error("the revoked token still authenticates")
	}

	// A browser session sees its own token marked; revoking it logs out.
	resp, _ = e.send("POST", "/login", "", url.Values{"username": {"bob"}, "password": {"bob-password"}}, nil)
	c := sessionCookie(resp)
	if c == nil {
		t.Fatal("no session cookie")
	}
	resp, body = e.send("GET", "/tokens", c.Value, nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "this browser") {
		t.Fatalf("session's token page: %d\n%s", resp.StatusCode, body)
	}
	id := strings.SplitN(c.Value, ".", 2)[0]
	resp, _ = e.send("POST", "/tokens/"+id+"/revoke", c.Value, url.Values{}, nil)
	if resp.StatusCode != http.StatusSeeOther || sessionCookie(resp) == nil || sessionCookie(resp).MaxAge >= 0 {
		t.Errorf("revoking the session's token: status %d, cookie not cleared", resp.StatusCode)
	}
}

func TestUsers(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	_, body, _ := e.get(admin, "/users")
	if !strings.Contains(body, `<th scope="row">alice</th>`) || !strings.Contains(body, `<th scope="row">bob</th>`) {
		t.Errorf("user list lacks alice or bob:\n%s", body)
	}
	form := url.Values{"username": {"carol"}, "email": {"carol@example.org"}, "password": {"carol-password"}}
	for _, who := range []int{anon, alice} {
		if resp, _ := e.post(who, "/users", form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("create user as %s: status %d, want 403", identNames[who], resp.StatusCode)
		}
	}
	if _, err := e.App.Store().GetUser(context.Background(), "carol"); err == nil {
		t.Fatal("a refused form created carol")
	}
	resp, _ := e.post(admin, "/users", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/users" {
		t.Fatalf("create user: status %d", resp.StatusCode)
	}
	if _, err := e.App.Login(context.Background(), "carol", "carol-password", ""); err != nil {
		t.Errorf("carol cannot log in: %v", err)
	}
	resp, body = e.post(admin, "/users", form)
	checkPage(t, "duplicate user", body)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, `value="carol@example.org"`) || strings.Contains(body, "carol-password") {
		t.Errorf("duplicate user: status %d, error or refilled form missing, or password echoed\n%s", resp.StatusCode, body)
	}
}
