package scheduler

import (
	"math"
	"strconv"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// checksEnabled reports whether devices of type t get health checks at all.
func checksEnabled(t *DeviceType) bool {
	return t.HasHealthCheck && !t.DisableHealthCheck
}

// healthDue reports whether device d of type t (whose checks are enabled)
// needs a health check at now, and why. The reasons are tried in LAVA's
// order: forced by health, no previous check, then the frequency.
//
// The frequency test is LAVA's: by hours, due when
// LastHealthCheck + HealthFrequency hours < now (strictly: a check is not
// yet due at the exact instant the period ends); by jobs, due when
// JobsSinceHealthCheck ≥ HealthFrequency.
func healthDue(t *DeviceType, d *Device, now time.Time) (reason string, due bool) {
	switch {
	case d.Health == lab.DeviceUnknown:
		return "device health is Unknown", true
	case d.Health == lab.DeviceLooping:
		return "device health is Looping", true
	case d.LastHealthCheck.IsZero():
		return "no previous health check", true
	}
	freq := int64(t.HealthFrequency)
	if t.HealthDenominator == lab.PerJobs {
		if int64(d.JobsSinceHealthCheck) >= freq {
			return strconv.Itoa(d.JobsSinceHealthCheck) + " jobs since last health check (frequency " +
				strconv.FormatInt(freq, 10) + " jobs)", true
		}
		return "", false
	}
	if freq > maxHours {
		return "", false // beyond time.Duration's ~292 years: never due by time
	}
	if d.LastHealthCheck.Add(time.Duration(max(freq, -maxHours)) * time.Hour).Before(now) {
		return "last health check at " + d.LastHealthCheck.UTC().Format(time.RFC3339) +
			" is more than " + strconv.FormatInt(freq, 10) + " hours old", true
	}
	return "", false
}

// maxHours is the largest number of hours a time.Duration can hold.
const maxHours = math.MaxInt64 / int64(time.Hour)
