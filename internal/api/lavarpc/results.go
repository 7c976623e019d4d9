package lavarpc

// resultMethods are results.*.
func resultMethods() []*Method { return nil }
