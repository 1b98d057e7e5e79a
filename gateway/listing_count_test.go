package gateway_test

import (
	"context"

	"github.com/weightgate/weightgate/storage"
)

// ListPage is counted like the other listing calls (listing_test.go). Apart
// from them so that TestListingPageBound also runs against a gateway whose
// store has no ListPage.
func (s *countingStore) ListPage(ctx context.Context, prefix, startAfter, delimiter string, limit int) (storage.Page, error) {
	p, err := s.ObjectStore.ListPage(ctx, prefix, startAfter, delimiter, limit)
	s.count(p.Len())
	return p, err
}
