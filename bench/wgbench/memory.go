package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStatusKiB reads fields (VmRSS, VmHWM, ...) of /proc/PID/status, in KiB.
func procStatusKiB(pid int, fields ...string) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string]bool{}
	for _, name := range fields {
		want[name] = true
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || !want[name] {
			continue
		}
		// "VmRSS:	   12345 kB"
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return nil, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, name, sc.Text())
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
		}
		out[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, name := range fields {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("/proc/%d/status has no %s", pid, name)
		}
	}
	return out, nil
}

// rssSampler samples a process's resident set every interval until stopped.
type rssSampler struct {
	stopc   chan struct{}
	wg      sync.WaitGroup
	peakKiB int64
	samples int
	err     error
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			v, err := procStatusKiB(pid, "VmRSS")
			if err != nil {
				s.err = err
				return
			}
			s.samples++
			s.peakKiB = max(s.peakKiB, v["VmRSS"])
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends sampling and returns the largest VmRSS seen, in KiB.
func (s *rssSampler) stop() (int64, int, error) {
	close(s.stopc)
	s.wg.Wait()
	return s.peakKiB, s.samples, s.err
}
