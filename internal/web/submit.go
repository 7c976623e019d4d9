package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
)

// maxDefinition bounds a submitted job definition (pasted or uploaded).
const maxDefinition = 1 << 20

// defLine is one line of a definition shown back with the problems the
// validator found on it, or its warnings.
type defLine struct {
	N        int // 1-based
	Text     string
	Errors   []string
	Warnings []string
}

// submitData is the submit page: the form, and after a rejected
// submission, a validation or a submission with warnings, the definition
// with its problems (or warnings) at their lines.
type submitData struct {
	Definition string
	Lines      []defLine // when rejected, validated or warned
	// General are problems without a line in the definition.
	General []string
	// Problems counts every problem found.
	Problems int
	// Warnings counts the warnings of an accepted definition.
	Warnings int
	// Valid says a validation (not a submission) found no problem.
	Valid bool
	// Submitted is the new job's id when a submission with warnings was
	// accepted (one without warnings goes to the job's page).
	Submitted int64
	// Strict is the form's strict validation box.
	Strict bool
}

// loginFirst sends an anonymous caller to the login page, back to r's page
// afterwards.
func loginFirst(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

func (u *UI) submitForm(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if p.Kind == auth.KindAnonymous {
		loginFirst(w, r)
		return nil
	}
	if !auth.CanSubmit(p) {
		return fmt.Errorf("submit jobs: %w", lab.ErrForbidden)
	}
	u.show(w, r, p, "submit", "Submit a job", "submit", submitData{})
	return nil
}

// readDefinition returns the definition of a submit form: the uploaded
// file when one was chosen, else the pasted text.
func readDefinition(w http.ResponseWriter, r *http.Request) (string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxDefinition+maxForm)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		if err := r.ParseMultipartForm(maxDefinition + maxForm); err != nil {
			return "", fmt.Errorf("%w: submit form: %v", lab.ErrInvalid, err)
		}
		if f, h, err := r.FormFile("file"); err == nil {
			defer f.Close()
			if h.Size > 0 {
				b, err := io.ReadAll(io.LimitReader(f, maxDefinition+1))
				if err != nil {
					return "", fmt.Errorf("%w: read uploaded definition: %v", lab.ErrInvalid, err)
				}
				if len(b) > maxDefinition {
					return "", fmt.Errorf("%w: the definition is larger than %d bytes", lab.ErrInvalid, maxDefinition)
				}
				return string(b), nil
			}
		}
	} else if err := r.ParseForm(); err != nil {
		return "", fmt.Errorf("%w: submit form: %v", lab.ErrInvalid, err)
	}
	return r.PostFormValue("definition"), nil
}

// submit validates and submits a definition (or only validates it, with
// the Validate button). A rejected definition is shown again, numbered,
// with each problem under its line (status 400); an accepted one
// redirects to the new job, unless it has warnings: the page then says
// the job was submitted and shows each warning under its line.
func (u *UI) submit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !auth.CanSubmit(p) {
		return fmt.Errorf("submit jobs: %w", lab.ErrForbidden)
	}
	def, err := readDefinition(w, r)
	if err != nil {
		return err
	}
	def = strings.ReplaceAll(def, "\r\n", "\n")
	if strings.TrimSpace(def) == "" {
		d := submitData{General: []string{"Paste a job definition or choose a file."}, Problems: 1}
		u.render(w, http.StatusBadRequest, "submit", page{Title: "Submit a job", Nav: "submit", User: p.Username, Admin: auth.IsAdmin(p), Session: fromSession(r), Data: d})
		return nil
	}
	strict := r.PostFormValue("strict") != ""
	show := func(status int, d submitData) {
		d.Strict = strict
		u.render(w, status, "submit", page{Title: "Submit a job", Nav: "submit", User: p.Username, Admin: auth.IsAdmin(p), Session: fromSession(r), Data: d})
	}
	var (
		ids      []int64
		warnings []jobdef.Warning
	)
	validate := r.PostFormValue("action") == "validate"
	if validate {
		warnings, err = u.app.ValidateJob(r.Context(), p, def, strict)
	} else {
		ids, warnings, err = u.app.SubmitJob(r.Context(), p, def)
	}
	switch {
	case err == nil && validate:
		d := warned(def, warnings)
		d.Valid = true
		show(http.StatusOK, d)
		return nil
	case err == nil && len(warnings) == 0:
		http.Redirect(w, r, fmt.Sprintf("/jobs/%d", ids[0]), http.StatusSeeOther)
		return nil
	case err == nil:
		d := warned(def, warnings)
		d.Submitted = ids[0]
		show(http.StatusCreated, d)
		return nil
	}
	// A definition the lab cannot run (invalid, or no usable device) is
	// shown again with the reason; anything else is the error page.
	m := apierr.Map(err)
	if m.Status != http.StatusBadRequest && m.Status != http.StatusUnprocessableEntity {
		return err
	}
	show(m.Status, rejected(def, err))
	return nil
}

// numbered lays out a definition line by line. Bytes that are not UTF-8 (a
// reason to reject it) are shown, and put back in the form, as U+FFFD, so
// the page stays UTF-8.
func numbered(def string) submitData {
	def = strings.ToValidUTF8(def, "\uFFFD")
	d := submitData{Definition: def}
	for i, l := range strings.Split(strings.TrimSuffix(def, "\n"), "\n") {
		d.Lines = append(d.Lines, defLine{N: i + 1, Text: l})
	}
	return d
}

// placed formats a positioned message for its line: "column C: path: msg".
func placed(column int, path, msg string) string {
	if path != "" {
		msg = path + ": " + msg
	}
	if column > 0 {
		msg = fmt.Sprintf("column %d: %s", column, msg)
	}
	return msg
}

// warned lays out an accepted definition with its warnings at their lines.
func warned(def string, warnings []jobdef.Warning) submitData {
	d := numbered(def)
	for _, w := range warnings {
		d.Warnings++
		if w.Line < 1 || w.Line > len(d.Lines) {
			d.General = append(d.General, w.String())
			continue
		}
		d.Lines[w.Line-1].Warnings = append(d.Lines[w.Line-1].Warnings, placed(w.Column, w.Path, w.Msg))
	}
	return d
}

// rejected lays out a definition with the problems of err at their lines.
func rejected(def string, err error) submitData {
	d := numbered(def)
	var je *jobdef.Errors
	if !errors.As(err, &je) {
		d.General = append(d.General, err.Error())
		d.Problems = 1
		return d
	}
	for _, it := range je.Items {
		d.Problems++
		if it.Line < 1 || it.Line > len(d.Lines) {
			d.General = append(d.General, it.Error())
			continue
		}
		d.Lines[it.Line-1].Errors = append(d.Lines[it.Line-1].Errors, placed(it.Column, it.Path, it.Msg))
	}
	return d
}
