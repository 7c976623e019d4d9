package web

// SetInlineResultsLines changes the job page's results threshold for a
// test and returns the function that restores it.
func SetInlineResultsLines(n int) (restore func()) {
	old := inlineResultsLines
	inlineResultsLines = n
	return func() { inlineResultsLines = old }
}

// SetContextBudget changes how many lines before a log window are read to
// find the actions it starts inside, for a test, and returns the function
// that restores it.
func SetContextBudget(n int) (restore func()) {
	old := contextBudget
	contextBudget = n
	return func() { contextBudget = old }
}
