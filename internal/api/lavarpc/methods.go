package lavarpc

// Methods is the table of every method the API serves, namespace by
// namespace.
func Methods() []*Method {
	var all []*Method
	for _, ns := range [][]*Method{systemMethods(), jobMethods(), resultMethods(), labMethods()} {
		all = append(all, ns...)
	}
	return all
}
