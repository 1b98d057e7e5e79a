package audit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/internal/anchortest"
	"github.com/weightgate/weightgate/internal/audittest"
)

func TestAnchorLayoutScratch(t *testing.T) {
	dir := t.TempDir()
	audittest.Trail(t, dir, audittest.Options{Key: audittest.Key, Downloads: 12})
	for _, l := range audittest.Lines(t, dir) {
		fmt.Println(l.File, l.Seq(), l.Kind(), len(l.Text))
	}
	m := anchortest.NewMem()
	audittest.Anchor(t, m, "gw-a", dir)
	files, _ := audit.Files(dir)
	s, err := audit.VerifyAnchored(context.Background(), files, "gw-a", m, audit.AnchorOptions{VerifyOptions: audit.VerifyOptions{PublicKey: audittest.Pub()}})
	fmt.Printf("%+v\n%v\n", s, err)
	r, err := audit.VerifyFleet(context.Background(), m, audit.AnchorOptions{VerifyOptions: audit.VerifyOptions{PublicKey: audittest.Pub()}})
	fmt.Printf("%+v\n%v\n", r, err)
}
