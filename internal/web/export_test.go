package web

// SetInlineCases changes the job page's threshold for listing test cases
// for a test and returns the function that restores it.
func SetInlineCases(n int) (restore func()) {
	old := inlineCases
	inlineCases = n
	return func() { inlineCases = old }
}
