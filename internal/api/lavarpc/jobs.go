package lavarpc

// jobMethods are scheduler.jobs.* and the older scheduler.* job methods.
func jobMethods() []*Method { return nil }
