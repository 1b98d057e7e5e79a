package index

import "sync"

// subscriberBuffer is how many rows a subscriber may fall behind before it
// misses some.
const subscriberBuffer = 1024

type subscriber struct {
	ch  chan Row
	gap bool // rows were dropped since the last one delivered
}

type subscribers struct {
	mu     sync.Mutex
	m      map[*subscriber]struct{}
	closed bool
}

// Subscribe receives rows added from now on, in the order they are indexed.
// The channel is buffered; a subscriber that falls behind misses rows and
// the next row it gets has Gap set: Sync never waits for a subscriber.
// cancel releases it and closes the channel (so does Close).
func (ix *Index) Subscribe() (rows <-chan Row, cancel func()) {
	return ix.subs.add()
}

func (s *subscribers) add() (<-chan Row, func()) {
	sub := &subscriber{ch: make(chan Row, subscriberBuffer)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(sub.ch)
		return sub.ch, func() {}
	}
	if s.m == nil {
		s.m = map[*subscriber]struct{}{}
	}
	s.m[sub] = struct{}{}
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if _, ok := s.m[sub]; ok {
				delete(s.m, sub)
				close(sub.ch)
			}
		})
	}
}

func (s *subscribers) any() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m) > 0
}

func (s *subscribers) send(rows []Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.m {
		for _, r := range rows {
			r.Gap = sub.gap
			select {
			case sub.ch <- r:
				sub.gap = false
			default:
				sub.gap = true
			}
		}
	}
}

func (s *subscribers) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.m {
		close(sub.ch)
	}
	s.m, s.closed = nil, true
}
