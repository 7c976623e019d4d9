package web

// SetInlineResultsLines changes the job page's results threshold for a
// test and returns the function that restores it.
func SetInlineResultsLines(n int) (restore func()) {
	old := inlineResultsLines
	inlineResultsLines = n
	return func() { inlineResultsLines = old }
}
