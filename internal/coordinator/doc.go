// Package coordinator is LAVA's lava-coordinator, the meeting point of a
// multinode group's jobs, as a component of the server: the same requests
// (group_data, lava_send, lava_wait, lava_wait_all, lava_sync,
// clear_group, aggregate, complete) with the same answers (ack, nack,
// wait, group_data) and the same bookkeeping per group (count, complete,
// clients, roles, message boxes, waits, syncs), including LAVA's quirks:
// lava_wait_all with a waitrole is satisfied by the first client of that
// role, lava_sync answers a client only on a poll after every client was
// seen, lava_wait_all for a message nobody sent is nack, and any request
// registers its sender and may create its group from group_size.
//
// What differs from LAVA's daemon:
//
//   - Durable: every change of a group is saved through a Persister (the
//     store) before the answer is returned, so a restart of the server
//     loses no group, message or barrier. The state is versioned JSON.
//   - Shared: several coordinators (server replicas) may share one
//     SharedPersister (Options.Shared). Each request then reads its
//     group's saved state and saves its change only if nobody saved
//     another meanwhile (running again otherwise), and Poke wakes the
//     waits on a group another coordinator changed.
//   - Concurrent: groups are independent (one lock each); a request never
//     waits for another group.
//   - Waits without polling: Wait blocks on a per-group notification and
//     answers as soon as the group changed so that the request can be
//     answered, instead of the client polling every few seconds.
//   - Bad input is answered nack, never a crash: a request without
//     group_name, role or hostname, a waitrole no client has, a
//     lava_send after a lava_sync of the same ID (LAVA's daemon dies on
//     each, losing every group).
//   - Bounded: the number of groups, the size of a group, names,
//     messages, message IDs per group and a group's whole state have
//     limits (Limits); beyond them a request is answered nack with a
//     Reason. A group never takes more clients than its group_size.
//
// The package imports only the standard library: the store is reached
// through Persister, and transports (the LAVA TCP listener in
// internal/api/lavacoord, the worker link) call Handle and Wait.
package coordinator
