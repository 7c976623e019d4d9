package workerapi

// OnJobsRead sets the hook connect calls once it has read the worker's
// jobs for its hello.
func OnJobsRead(s *Server, f func(worker string)) { s.jobsRead = f }

// Pushed reports whether s has pushed the assignment of job id (to a
// stream, or to none when the worker had none here).
func Pushed(s *Server, id int64) bool {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	_, ok := s.pushed[id]
	return ok
}
