package jobdef

import (
	"net/mail"
	"strings"
)

// Notify is the notify block: when to notify (Criteria) and whom (Recipients
// by e-mail or IRC, Callbacks by URL). Criteria.Status is always set.
// Verbosity defaults to "quiet". A single callback: is stored as a
// one-element Callbacks.
type Notify struct {
	Criteria   NotifyCriteria `json:"criteria"`
	Verbosity  string         `json:"verbosity"`
	Recipients []Recipient    `json:"recipients,omitempty"`
	Callbacks  []Callback     `json:"callbacks,omitempty"`
	// Compare is kept as written (a query whose results go into e-mails).
	Compare map[string]any `json:"compare,omitempty"`
}

// NotifyCriteria says which job transitions notify. Status is one of all,
// running, finished, complete, incomplete, canceled; Type (regression or
// progression) is only allowed with complete or incomplete.
type NotifyCriteria struct {
	Status          string `json:"status"`
	Type            string `json:"type,omitempty"`
	DependencyQuery string `json:"dependency_query,omitempty"`
}

// Recipient is one notify.recipients[].to entry. Method is email or irc; an
// email recipient has Email or User, an irc recipient Handle or User. User
// may be "{LAVA_DEVICE_OWNER}".
type Recipient struct {
	Method string `json:"method"`
	User   string `json:"user,omitempty"`
	Email  string `json:"email,omitempty"`
	Handle string `json:"handle,omitempty"`
	Server string `json:"server,omitempty"`
}

// Callback is a URL called on matching transitions. Defaults: Method GET,
// Header "Authorization", Dataset minimal, ContentType urlencoded. URL is an
// http or https URL and may contain { FIELD } placeholders.
type Callback struct {
	Pos         Pos    `json:"pos"`
	URL         string `json:"url"`
	Method      string `json:"method"`
	Token       string `json:"token,omitempty"`
	Header      string `json:"header"`
	Dataset     string `json:"dataset"`
	ContentType string `json:"content_type"`
}

func (d *decoder) notify(n *node, path string) *Notify {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	nt := &Notify{Verbosity: "quiet"}
	if v, ok := d.require(m, "criteria"); ok {
		nt.Criteria = d.criteria(v, m.sub("criteria"))
	}
	if v, ok := m.get("verbosity"); ok {
		nt.Verbosity, _ = d.enum(v, m.sub("verbosity"), "verbosity", "verbose", "quiet", "status-only")
	}
	if v, ok := m.get("recipients"); ok {
		p := m.sub("recipients")
		if v.kind != seqNode {
			d.expected(v, p, "a list of recipients")
		} else {
			for i, it := range v.items {
				if r, ok := d.recipient(it, IndexPath(p, i)); ok {
					nt.Recipients = append(nt.Recipients, r)
				}
			}
		}
	}
	_, one := m.get("callback")
	_, many := m.get("callbacks")
	if one && many {
		d.errorf(m.keyPos("callbacks"), m.sub("callbacks"), "use either callback or callbacks, not both")
	}
	if v, ok := m.get("callback"); ok {
		if c, ok := d.callback(v, m.sub("callback")); ok {
			nt.Callbacks = append(nt.Callbacks, c)
		}
	}
	if v, ok := m.get("callbacks"); ok {
		p := m.sub("callbacks")
		if v.kind != seqNode {
			d.expected(v, p, "a list of callbacks")
		} else {
			for i, it := range v.items {
				if c, ok := d.callback(it, IndexPath(p, i)); ok {
					nt.Callbacks = append(nt.Callbacks, c)
				}
			}
		}
	}
	if v, ok := m.get("compare"); ok {
		nt.Compare = d.anyMap(v, m.sub("compare"))
	}
	d.extraKeys(m, []string{"criteria", "verbosity", "recipients", "callback", "callbacks", "compare"}, nil)
	return nt
}

func (d *decoder) criteria(n *node, path string) NotifyCriteria {
	var c NotifyCriteria
	m := d.asMap(n, path)
	if m == nil {
		return c
	}
	if v, ok := d.require(m, "status"); ok {
		c.Status, _ = d.enum(v, m.sub("status"), "status", "all", "running", "finished", "complete", "incomplete", "canceled")
	}
	if v, ok := m.get("type"); ok {
		var good bool
		c.Type, good = d.enum(v, m.sub("type"), "type", "regression", "progression")
		if good && c.Status != "" && c.Status != "complete" && c.Status != "incomplete" {
			d.errorf(v.pos, m.sub("type"), "type %s needs status complete or incomplete, not %s", c.Type, c.Status)
		}
	}
	if v, ok := m.get("dependency_query"); ok {
		c.DependencyQuery, _ = d.nonEmpty(v, m.sub("dependency_query"), 0)
	}
	d.extraKeys(m, []string{"status", "type", "dependency_query"}, nil)
	return c
}

func (d *decoder) recipient(n *node, path string) (Recipient, bool) {
	var r Recipient
	outer := d.asMap(n, path)
	if outer == nil {
		return r, false
	}
	d.unknownKeys(outer, []string{"to"})
	v, ok := d.require(outer, "to")
	if !ok {
		return r, false
	}
	path = outer.sub("to")
	m := d.asMap(v, path)
	if m == nil {
		return r, false
	}
	good := true
	if v, ok := d.require(m, "method"); ok {
		r.Method, ok = d.enum(v, m.sub("method"), "notification method", "email", "irc")
		good = good && ok
	} else {
		good = false
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"user", &r.User}, {"email", &r.Email}, {"handle", &r.Handle}, {"server", &r.Server}} {
		if v, ok := m.get(f.key); ok {
			s, ok := d.nonEmpty(v, m.sub(f.key), 0)
			*f.dst = s
			good = good && ok
		}
	}
	if r.Email != "" {
		if _, err := mail.ParseAddress(r.Email); err != nil {
			d.errorf(m.keyPos("email"), m.sub("email"), "%q is not an e-mail address", truncate(r.Email, 60))
			good = false
		}
	}
	d.unknownKeys(m, []string{"method", "user", "email", "handle", "server"})
	switch {
	case !good:
	case r.Method == "email" && r.Email == "" && r.User == "":
		d.errorf(v.pos, path, "an email recipient needs email or user")
		good = false
	case r.Method == "irc" && r.Handle == "" && r.User == "":
		d.errorf(v.pos, path, "an irc recipient needs handle or user")
		good = false
	}
	return r, good
}

func (d *decoder) callback(n *node, path string) (Callback, bool) {
	c := Callback{Pos: n.pos, Method: "GET", Header: "Authorization", Dataset: "minimal", ContentType: "urlencoded"}
	m := d.asMap(n, path)
	if m == nil {
		return c, false
	}
	good := true
	if v, ok := d.require(m, "url"); ok {
		c.URL, ok = d.url(v, m.sub("url"), "http", "https")
		good = good && ok
	} else {
		good = false
	}
	enum := func(key string, dst *string, allowed ...string) {
		if v, ok := m.get(key); ok {
			s, ok := d.enum(v, m.sub(key), key, allowed...)
			if ok {
				*dst = s
			}
			good = good && ok
		}
	}
	enum("method", &c.Method, "GET", "POST")
	enum("dataset", &c.Dataset, "minimal", "logs", "results", "all")
	enum("content-type", &c.ContentType, "urlencoded", "json")
	if v, ok := m.get("token"); ok {
		c.Token, ok = d.nonEmpty(v, m.sub("token"), 0)
		good = good && ok
	}
	if v, ok := m.get("header"); ok {
		c.Header, ok = d.nonEmpty(v, m.sub("header"), 0)
		if ok && !headerName(c.Header) {
			d.errorf(v.pos, m.sub("header"), "%q is not an HTTP header name", truncate(c.Header, 60))
			ok = false
		}
		good = good && ok
	}
	d.extraKeys(m, []string{"url", "method", "token", "header", "dataset", "content-type"}, nil)
	return c, good
}

// headerName reports whether s is an HTTP header field name (RFC 9110's
// token).
func headerName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}
