package lavarpc

// labMethods are scheduler.devices.*, scheduler.device_types.*,
// scheduler.workers.*, scheduler.tags.*, scheduler.aliases.* and the older
// scheduler.* device methods.
func labMethods() []*Method { return nil }
