// Package events is LAVA's event stream on Basalt: a WebSocket at /ws/ on
// the server's main port (LAVA's publisher path) that sends every change of
// a job, a device or a worker, and every lava-test-event of a test shell,
// as LAVA's publisher sends them — a JSON array [topic, uuid1, ISO
// datetime, username, payload as a JSON string] with the topics
// org.lavasoftware.testjob, .device, .worker and .event and their payload
// fields and display strings — so that `lavacli events listen` and
// dashboards written for LAVA work unchanged. GET /ws/v1/healthz answers
// {"health": "good"}, as LAVA's publisher does.
//
// A listener connects anonymously or with HTTP Basic username:token (as
// LAVA); each event is checked against what that listener may see
// (app.StreamEvent.VisibleTo): a private job's events reach only those who
// may see the job, a device's event names its job only to them. The
// objects of an event are read once (app.EventResolver), its message is
// encoded once per variant, and each listener gets it through a bounded
// queue of its own: a listener that does not keep up is disconnected
// (close code 1008) rather than slowing the app or the other listeners.
// Connections are limited in number, pinged, and re-authenticated at each
// ping. docs/lava-clients.md ("Events") describes the stream for users.
package events
