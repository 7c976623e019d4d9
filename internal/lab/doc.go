// Package lab is Basalt's domain core: the lab's objects (device types,
// devices, workers, tags, jobs, users, tokens), their enumerations with
// LAVA's integer values and names, the state-machine rules that decide legal
// job transitions and device health after jobs and worker changes, and the
// sentinel errors every layer wraps. It imports only the standard library.
package lab
