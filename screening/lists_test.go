package screening

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const listHeader = "_id,source,name,ids\n"

func writeList(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenListsErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	writeList(t, good, listHeader+"1,Test List,Acme Ltd,\n")
	bad := filepath.Join(dir, "bad.csv")
	writeList(t, bad, "_id,source\n1,Test List\n")
	tests := []struct {
		name  string
		files []ListFile
		opts  Options
		want  string
	}{
		{"no lists", nil, Options{}, "no lists"},
		{"missing file", []ListFile{{Name: "a", Path: filepath.Join(dir, "nope.csv")}}, Options{}, "nope.csv"},
		{"unparsable second file", []ListFile{{Name: "a", Path: good}, {Name: "b", Path: bad}}, Options{}, "bad.csv"},
		{"bad thresholds", []ListFile{{Name: "a", Path: good}}, Options{HitThreshold: 0.5, ReviewThreshold: 0.9}, "thresholds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := OpenLists(tt.files, tt.opts, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || l != nil {
				t.Errorf("OpenLists = %v, %v; want an error containing %q", l, err, tt.want)
			}
		})
	}
}

// TestListsReload: a reload that fails keeps the lists in force and records
// why; one that succeeds takes over and clears the error; screening runs
// concurrently throughout.
func TestListsReload(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.json")
	writeList(t, a, listHeader+"1,Test List,Acme Ltd,\n")
	writeList(t, b, `{"results": [{"id": "2", "source": "Local", "name": "Blue Lantern Analytics"}]}`)
	l, err := OpenLists([]ListFile{{Name: "a", Path: a}, {Name: "b", Path: b}}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := l.State()
	if st.Entries != 2 || len(st.Lists) != 2 || st.Lists[1].Entries != 1 || len(st.Lists[0].SHA256) != 64 || st.Error != "" || st.LoadedAt.IsZero() {
		t.Fatalf("state = %+v", st)
	}
	firstHash := st.Lists[0].SHA256

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := l.Screen(Query{EntityName: "Acme"}); r.Status != StatusHit {
					t.Errorf("Acme screened %+v during reloads, want a hit throughout", r)
					return
				}
			}
		})
	}

	writeList(t, a, "_id,source\n1,Test List\n")
	err = l.Reload()
	if err == nil || !strings.Contains(err.Error(), "a.csv") {
		t.Fatalf("Reload of a broken list = %v, want an error naming a.csv", err)
	}
	st = l.State()
	if !strings.Contains(st.Error, "a.csv") || st.FailedAt.IsZero() || st.Entries != 2 || st.Lists[0].SHA256 != firstHash {
		t.Errorf("state after a failed reload = %+v; want the error, and the lists in force unchanged", st)
	}

	writeList(t, a, listHeader+"1,Test List,Acme Ltd,\n3,Test List,Northwind Analytics,\n")
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	st = l.State()
	if st.Error != "" || !st.FailedAt.IsZero() || st.Entries != 3 || st.Lists[0].SHA256 == firstHash {
		t.Errorf("state after a good reload = %+v; want no error, 3 entries, a new hash", st)
	}
	if r := l.Screen(Query{EntityName: "Northwind Analytics GmbH"}); r.Status != StatusHit || r.Entry != "3" {
		t.Errorf("a party added by the reload: %+v, want a hit on entry 3", r)
	}
	close(stop)
	wg.Wait()
}
