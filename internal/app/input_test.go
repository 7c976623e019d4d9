package app_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
)

// TestInputChecks: values the store could not keep on PostgreSQL are
// refused by the use cases with lab.ErrInvalid and a message naming the
// field, on both databases, before the store is asked.
func TestInputChecks(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		nul := "a\x00b"
		over := lab.MaxSetting + 1
		intp := func(n int) *int { return &n }
		strp := func(s string) *string { return &s }
		cases := []struct {
			name, want string
			err        error
		}{
			{"create type", "health frequency 2147483648 is out of range",
				f.app.CreateDeviceType(f.ctx, f.admin, lab.DeviceType{Name: "x", HealthFrequency: over})},
			{"update type", "health frequency 2147483648 is out of range", func() error {
				_, err := f.app.UpdateDeviceTypeWith(f.ctx, f.admin, "qemu", func(dt *lab.DeviceType) error { dt.HealthFrequency = over; return nil })
				return err
			}()},
			{"type description", "device type description holds a NUL", f.app.CreateDeviceType(f.ctx, f.admin, lab.DeviceType{Name: "y", Description: nul})},
			{"create worker", "job limit 2147483648 is out of range", func() error {
				_, err := f.app.CreateWorker(f.ctx, f.admin, lab.Worker{Name: "w2", JobLimit: over})
				return err
			}()},
			{"update worker", "job limit 2147483648 is out of range", func() error {
				_, err := f.app.UpdateWorker(f.ctx, f.admin, "w1", app.WorkerUpdate{JobLimit: intp(over)})
				return err
			}()},
			{"worker description", "worker description is not valid UTF-8", func() error {
				_, err := f.app.UpdateWorker(f.ctx, f.admin, "w1", app.WorkerUpdate{Description: strp("caf\xe9")})
				return err
			}()},
			{"device description", "device description holds a NUL", f.app.CreateDevice(f.ctx, f.admin,
				lab.Device{Hostname: "d2", DeviceType: "qemu", Worker: "w1", Description: nul}, "test")},
			{"device health reason", "reason holds a NUL", func() error {
				_, err := f.app.SetDeviceHealth(f.ctx, f.admin, "d1", lab.DeviceBad, nul)
				return err
			}()},
			{"tag", "tag description is not valid UTF-8", f.app.CreateTag(f.ctx, f.admin, lab.Tag{Name: "t", Description: "\xff"})},
			{"user", "first name holds a NUL", func() error {
				_, err := f.app.CreateUser(f.ctx, f.admin, app.NewUser{Username: "u", FirstName: nul})
				return err
			}()},
			{"user update", "e-mail holds a NUL", func() error {
				_, err := f.app.UpdateUser(f.ctx, f.user, "alice", app.UserUpdate{Email: strp(nul)})
				return err
			}()},
			{"token", "token description holds a NUL", func() error {
				_, _, err := f.app.CreateToken(f.ctx, f.user, "", nul, time.Time{})
				return err
			}()},
			{"join token", "a join token lives from 1 second to 31536000 seconds", func() error {
				_, err := f.app.CreateJoinToken(f.ctx, f.admin, "w1", app.MaxJoinTokenTTL+time.Second)
				return err
			}()},
			{"job definition", "the text is not UTF-8", func() error {
				_, _, err := f.app.SubmitJob(f.ctx, f.user, strings.Replace(definition("x", "qemu", ""), "job_name: x", "job_name: \xff", 1))
				return err
			}()},
		}
		for _, c := range cases {
			if !errors.Is(c.err, lab.ErrInvalid) || !strings.Contains(c.err.Error(), c.want) {
				t.Errorf("%s: %v, want lab.ErrInvalid saying %q", c.name, c.err, c.want)
			}
		}
		if _, err := f.app.CreateJoinToken(f.ctx, f.admin, "w1", app.MaxJoinTokenTTL); err != nil {
			t.Errorf("a join token of the longest life: %v", err)
		}
	})
}
