package events

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/pyfmt"
)

// TopicPrefix is LAVA's EVENT_TOPIC, which every topic starts with.
const TopicPrefix = "org.lavasoftware"

// LAVA's topics.
const (
	TopicJob    = TopicPrefix + ".testjob"
	TopicDevice = TopicPrefix + ".device"
	TopicWorker = TopicPrefix + ".worker"
	TopicEvent  = TopicPrefix + ".event"
)

// ServerUser is the username of the events the server sends on its own
// behalf (devices, workers, test events), as LAVA names it.
const ServerUser = "lavaserver"

// A message is what LAVA's publisher sends a WebSocket listener: the five
// parts of its ZMQ message as a JSON array of strings, the last being the
// payload's JSON. Both are encoded as Python's json.dumps encodes them
// (", " and ": " separators, non-ASCII escaped as \uXXXX), so a Basalt
// message is byte for byte what LAVA would send for the same data.

// message encodes [topic, id, dt, user, payload].
func message(topic, id, dt, user string, payload []byte) []byte {
	b := make([]byte, 0, len(topic)+len(id)+len(dt)+len(user)+len(payload)*5/4+32)
	b = append(b, '[')
	b = pyfmt.AppendJSONString(b, topic)
	b = append(b, ", "...)
	b = pyfmt.AppendJSONString(b, id)
	b = append(b, ", "...)
	b = pyfmt.AppendJSONString(b, dt)
	b = append(b, ", "...)
	b = pyfmt.AppendJSONString(b, user)
	b = append(b, ", "...)
	b = pyfmt.AppendJSONString(b, string(payload))
	return append(b, ']')
}

// object writes a JSON object with keys in the order they are added, as
// Python's dicts keep them.
type object struct{ b []byte }

func (o *object) key(k string) {
	if len(o.b) == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ", "...)
	}
	o.b = pyfmt.AppendJSONString(o.b, k)
	o.b = append(o.b, ": "...)
}

func (o *object) str(k, v string) { o.key(k); o.b = pyfmt.AppendJSONString(o.b, v) }

func (o *object) int(k string, v int64) { o.key(k); o.b = strconv.AppendInt(o.b, v, 10) }

func (o *object) bool(k string, v bool) { o.key(k); o.b = strconv.AppendBool(o.b, v) }

func (o *object) null(k string) { o.key(k); o.b = append(o.b, "null"...) }

func (o *object) bytes() []byte {
	if len(o.b) == 0 {
		return []byte("{}")
	}
	return append(o.b, '}')
}

// jobPayload is the payload of an org.lavasoftware.testjob event, with
// LAVA's fields in LAVA's order (lava_scheduler_app/signals.py).
func jobPayload(se app.StreamEvent) []byte {
	j := se.Job
	state, health := se.State, se.Health
	if state == "" {
		state = j.State.String()
	}
	if health == "" {
		health = j.Health.String()
	}
	var o object
	o.str("health", health)
	o.str("state", state)
	o.int("job", j.ID)
	o.str("description", j.Description)
	o.int("priority", int64(j.Priority))
	o.str("submit_time", pyfmt.IsoformatUTC(j.SubmitTime))
	o.str("submitter", j.Submitter)
	o.bool("health_check", j.HealthCheck)
	if j.Multinode != nil {
		o.str("sub_id", j.Multinode.SubID)
	}
	if j.ActualDevice != "" {
		o.str("device", j.ActualDevice)
		if se.Device != nil && se.Device.Worker != "" {
			o.str("worker", se.Device.Worker)
		}
	}
	if j.RequestedType != "" {
		o.str("device_type", j.RequestedType)
	}
	if !j.StartTime.IsZero() {
		o.str("start_time", pyfmt.IsoformatUTC(j.StartTime))
	}
	if !j.EndTime.IsZero() {
		o.str("end_time", pyfmt.IsoformatUTC(j.EndTime))
	}
	return o.bytes()
}

// devicePayload is the payload of an org.lavasoftware.device event; job
// says whether it names the device's job (for listeners who may see it).
func devicePayload(se app.StreamEvent, job bool) []byte {
	d := se.Device
	var o object
	o.str("health", se.Health)
	o.str("state", se.State)
	o.str("device", d.Hostname)
	o.str("device_type", d.DeviceType)
	if d.Worker != "" {
		o.str("worker", d.Worker)
	} else {
		o.null("worker")
	}
	if job && se.Job != nil {
		o.int("job", se.Job.ID)
	}
	return o.bytes()
}

// workerPayload is the payload of an org.lavasoftware.worker event.
func workerPayload(se app.StreamEvent) []byte {
	var o object
	o.str("hostname", se.Worker)
	o.str("health", se.Health)
	o.str("state", se.State)
	return o.bytes()
}

// testEventPayload is the payload of an org.lavasoftware.event event.
func testEventPayload(se app.StreamEvent) []byte {
	var o object
	o.str("message", se.Message)
	o.int("job", se.JobID)
	return o.bytes()
}

// uuidGen makes version 1 UUIDs (RFC 4122 §4.2: the time, a clock
// sequence and a node), as Python's uuid.uuid1() that LAVA uses. The node
// is random with the multicast bit set (§4.5), not a network card's
// address; times that do not move forward are made to.
type uuidGen struct {
	mu   sync.Mutex
	last uint64 // the last timestamp given
	seq  uint16
	node [6]byte
}

func newUUIDGen() *uuidGen {
	g := &uuidGen{}
	var r [8]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	copy(g.node[:], r[:6])
	g.node[0] |= 0x01
	g.seq = uint16(r[6])<<8 | uint16(r[7])
	return g
}

// gregorianOffset is the number of 100 ns intervals from 1582-10-15 to
// 1970-01-01.
const gregorianOffset = 0x01B21DD213814000

// next returns the UUID of time t.
func (g *uuidGen) next(t time.Time) string {
	ts := uint64(t.UnixNano()/100) + gregorianOffset
	g.mu.Lock()
	if ts <= g.last {
		ts = g.last + 1
	}
	g.last = ts
	seq := g.seq
	g.mu.Unlock()
	var u [16]byte
	u[0], u[1], u[2], u[3] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	u[4], u[5] = byte(ts>>40), byte(ts>>32)
	u[6], u[7] = byte(ts>>56)&0x0f|0x10, byte(ts>>48)
	u[8], u[9] = byte(seq>>8)&0x3f|0x80, byte(seq)
	copy(u[10:], g.node[:])
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
