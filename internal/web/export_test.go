package web

// SetInlineCases changes the job page's threshold for listing test cases
// for a test and returns the function that restores it.
func SetInlineCases(n int) (restore func()) {
	old := inlineCases
	inlineCases = n
	return func() { inlineCases = old }
}

// SetContextBudget changes how many lines before a log window are read to
// find the actions it starts inside, for a test, and returns the function
// that restores it.
func SetContextBudget(n int) (restore func()) {
	old := contextBudget
	contextBudget = n
	return func() { contextBudget = old }
}
