package channel

import "time"

// SetBodyTimeout shortens how long a request body may take, for the tests.
func (s *Server) SetBodyTimeout(d time.Duration) { s.bodyTimeout = d }
