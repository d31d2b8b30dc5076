package invoke

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"
	"time"
)

// memAvailable reads MemAvailable from /proc/meminfo, in bytes: what the
// kernel estimates can be allocated without swapping.
func memAvailable() (uint64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("MemAvailable:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, err
		}
		return kb << 10, nil
	}
	return 0, errors.New("invoke: no MemAvailable in /proc/meminfo")
}

// lowMemory reports how many bytes the host is short of MinAvailable;
// 0 when it is not (or when the check is off or unreadable).
func (s *Service) lowMemory() uint64 {
	if s.opts.MinAvailableMB <= 0 {
		return 0
	}
	avail, err := s.opts.MemAvailable()
	if err != nil {
		return 0
	}
	want := uint64(s.opts.MinAvailableMB) << 20
	if avail >= want {
		return 0
	}
	return want - avail
}

// relieve evicts idle sandboxes, least recently used first, until their
// memory covers deficit bytes or none is left. Provisioned sandboxes are
// kept: their owner asked for them.
func (s *Service) relieve(deficit uint64) {
	var victims []*instance
	s.mu.Lock()
	for freed := uint64(0); freed < deficit; {
		in := s.evictLocked()
		if in == nil {
			break
		}
		s.live--
		s.unprovisionLocked(in)
		victims = append(victims, in)
		if st, err := in.sb.Stats(); err == nil && st.MemoryBytes > 0 {
			freed += st.MemoryBytes
		} else {
			freed += uint64(in.memoryMB) << 20
		}
	}
	s.mu.Unlock()
	s.metrics.evictedForMemory.Add(uint64(len(victims)))
	for _, in := range victims {
		s.opts.Logger.Info("invoke: memory pressure: evicting idle sandbox", "sandbox", in.sb.ID(), "function", in.function)
		in.close()
	}
	if len(victims) > 0 {
		s.kickProvisioner()
	}
}

// idleFor is how long in may stay idle: its function's keep-alive tag,
// else the server's IdleTTL.
func (s *Service) idleFor(in *instance) time.Duration {
	if in.keepAlive > 0 {
		return in.keepAlive
	}
	return s.opts.IdleTTL
}
