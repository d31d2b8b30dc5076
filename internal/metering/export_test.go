package metering

// SetKickAt changes how many buffered records wake the flusher early, so a
// test can fill the buffer deterministically.
func (m *Meter) SetKickAt(n int) {
	m.mu.Lock()
	m.kickAt = n
	m.mu.Unlock()
}
