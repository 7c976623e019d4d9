package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// groupsData is the superusers' group page: every group with its members,
// the usernames that may be added, and after a refused form its error and
// what was typed.
type groupsData struct {
	Groups []groupRow
	Error  string
	Name   string // the group name typed into the create form, after an error
}

// groupRow is one group and the users who are not members yet (for the
// add-member form).
type groupRow struct {
	lab.Group
	Others []string
}

// registerGroups adds the group page and its forms; New calls it once,
// with the layout template every page is cloned from.
func (u *UI) registerGroups(base *template.Template) {
	u.pages["groups"] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/groups.html"))
	u.handle("GET /groups", u.groups)
	u.handle("POST /groups", u.createGroup)
	u.handle("POST /groups/{name}/delete", u.deleteGroup)
	u.handle("POST /groups/{name}/members", u.addGroupMember)
	u.handle("POST /groups/{name}/members/{username}/remove", u.removeGroupMember)
}

// showGroups renders the group page for p with status code.
func (u *UI) showGroups(w http.ResponseWriter, r *http.Request, p auth.Principal, code int, d groupsData) error {
	groups, err := u.app.ListGroups(r.Context(), p)
	if err != nil {
		return err
	}
	users, err := u.app.ListUsers(r.Context(), p)
	if err != nil {
		return err
	}
	for _, g := range groups {
		row := groupRow{Group: g}
		for _, us := range users {
			if !slices.Contains(g.Members, us.Username) {
				row.Others = append(row.Others, us.Username)
			}
		}
		d.Groups = append(d.Groups, row)
	}
	u.render(w, code, "groups", page{Title: "Groups", Nav: "groups", User: p.Username, Admin: auth.IsAdmin(p), Session: fromSession(r), Data: d})
	return nil
}

// groups lists the groups: superusers only. Anonymous visitors are sent to
// the login page; everyone else is forbidden.
func (u *UI) groups(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if p.Kind == auth.KindAnonymous {
		loginFirst(w, r)
		return nil
	}
	if !auth.IsAdmin(p) {
		return fmt.Errorf("groups: %w", lab.ErrForbidden)
	}
	return u.showGroups(w, r, p, http.StatusOK, groupsData{})
}

// groupForm checks that p is a superuser and parses the posted form.
func groupForm(w http.ResponseWriter, r *http.Request, p auth.Principal, what string) error {
	if !auth.IsAdmin(p) {
		return fmt.Errorf("%s: %w", what, lab.ErrForbidden)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: %s form: %v", lab.ErrInvalid, what, err)
	}
	return nil
}

// groupDone redirects back to the group page after a form, or shows the
// page again with the error of a refused one (invalid or conflicting
// values); other errors become the error page.
func (u *UI) groupDone(w http.ResponseWriter, r *http.Request, p auth.Principal, err error, d groupsData) error {
	if errors.Is(err, lab.ErrInvalid) || errors.Is(err, lab.ErrConflict) {
		d.Error = err.Error()
		return u.showGroups(w, r, p, status(err), d)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/groups", http.StatusSeeOther)
	return nil
}

// createGroup adds a group (superusers only). An invalid or taken name is
// shown on the form again.
func (u *UI) createGroup(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := groupForm(w, r, p, "create group"); err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	err := u.app.CreateGroup(r.Context(), p, name)
	return u.groupDone(w, r, p, err, groupsData{Name: name})
}

// deleteGroup removes a group and its memberships (superusers only); an
// unknown group is not found.
func (u *UI) deleteGroup(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := groupForm(w, r, p, "delete group"); err != nil {
		return err
	}
	err := u.app.DeleteGroup(r.Context(), p, r.PathValue("name"))
	return u.groupDone(w, r, p, err, groupsData{})
}

// addGroupMember adds the posted username to a group (superusers only).
// An unknown user (400) or an existing member (409) is shown on the page.
func (u *UI) addGroupMember(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := groupForm(w, r, p, "add group member"); err != nil {
		return err
	}
	user := strings.TrimSpace(r.PostForm.Get("username"))
	err := u.app.SetGroupMember(r.Context(), p, r.PathValue("name"), user, true)
	return u.groupDone(w, r, p, err, groupsData{})
}

// removeGroupMember removes a user from a group (superusers only); a user
// who is not a member is not found.
func (u *UI) removeGroupMember(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := groupForm(w, r, p, "remove group member"); err != nil {
		return err
	}
	err := u.app.SetGroupMember(r.Context(), p, r.PathValue("name"), r.PathValue("username"), false)
	return u.groupDone(w, r, p, err, groupsData{})
}
