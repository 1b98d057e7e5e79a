package gatewaytest

import (
	"path/filepath"
	"testing"

	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/screening"
)

// ScreeningLists opens the shipped sample lists: the CSL extract
// (testdata/screening/consolidated.csv) and the operator's local list
// (local.json).
func ScreeningLists(tb testing.TB, dir string) *screening.Lists {
	tb.Helper()
	if dir == "" {
		dir = filepath.Join(s3test.RepoRoot(tb), "testdata", "screening")
	}
	l, err := screening.OpenLists([]screening.ListFile{
		{Name: "csl", Path: filepath.Join(dir, "consolidated.csv")},
		{Name: "local", Path: filepath.Join(dir, "local.json")},
	}, screening.Options{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}
