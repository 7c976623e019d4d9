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
	freq := t.HealthFrequency
	if t.HealthDenominator == lab.PerJobs {
		if d.JobsSinceHealthCheck >= freq {
			return strconv.Itoa(d.JobsSinceHealthCheck) + " jobs since last health check (frequency " +
				strconv.Itoa(freq) + " jobs)", true
		}
		return "", false
	}
	if d.LastHealthCheck.Add(hours(freq)).Before(now) {
		return "last health check at " + d.LastHealthCheck.UTC().Format(time.RFC3339) +
			" is more than " + strconv.Itoa(freq) + " hours old", true
	}
	return "", false
}

// hours converts a frequency to a duration, saturating instead of
// overflowing for absurdly large values.
func hours(n int) time.Duration {
	const max = math.MaxInt64 / int64(time.Hour)
	switch {
	case int64(n) > max:
		return math.MaxInt64
	case int64(n) < -max:
		return math.MinInt64
	}
	return time.Duration(n) * time.Hour
}
