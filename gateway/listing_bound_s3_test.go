package gateway_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/internal/storagetest"
)

// TestListingPageBoundS3 is TestListingPageBound on the S3 backend (a
// private VersityGW), whose pages also read one storage page ahead in the
// background: a page's window may count its own read-ahead and the one
// the previous page started.
func TestListingPageBoundS3(t *testing.T) {
	t.Parallel()
	cfg, bucketDir, stop := s3test.StartEmpty(t)
	defer stop()
	const n = 2000
	for i, hide := range hidings(n)[1:] {
		t.Run(fmt.Sprintf("%d models, %s", n, hide.name), func(t *testing.T) {
			prefix := fmt.Sprintf("case%d/", i)
			dir := filepath.Join(bucketDir, prefix)
			storagetest.WriteModels(t, dir, n, hide.closed)
			storagetest.SetETagXattrs(t, dir)
			c := cfg
			c.Prefix = prefix
			checkPageBound(t, &countingStore{ObjectStore: gatewaytest.S3Store(t, c)}, n, 2)
		})
	}
}
