// Package anchortest is an in-memory audit.AnchorStore for tests that need
// an anchor but not a real S3 server with Object Lock.
package anchortest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/weightgate/weightgate/audit"
)

// Mem is an AnchorStore in memory. Like a bucket under Object Lock it keeps
// every version of an object; Rewrite adds one, as an attacker holding the
// bucket's write credentials could.
type Mem struct {
	mu    sync.Mutex
	cps   map[string]map[uint64][][]byte // instance -> seq -> versions, oldest first
	files map[string]map[string][][]byte // instance -> name -> versions
	// Fail, when set, is returned by every call (an unreachable anchor).
	Fail error
}

// NewMem returns an empty anchor.
func NewMem() *Mem {
	return &Mem{cps: map[string]map[uint64][][]byte{}, files: map[string]map[string][][]byte{}}
}

// PutCheckpoint implements audit.AnchorStore.
func (m *Mem) PutCheckpoint(_ context.Context, instance string, seq uint64, line []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.Fail; err != nil {
		return err
	}
	if m.cps[instance] == nil {
		m.cps[instance] = map[uint64][][]byte{}
	}
	if v := m.cps[instance][seq]; len(v) > 0 {
		if bytes.Equal(v[0], line) {
			return nil
		}
		return fmt.Errorf("anchortest: checkpoint %s/%d exists with other content", instance, seq)
	}
	m.cps[instance][seq] = [][]byte{bytes.Clone(line)}
	return nil
}

// PutFile implements audit.AnchorStore.
func (m *Mem) PutFile(_ context.Context, instance, name string, r io.Reader, _ int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.Fail; err != nil {
		return err
	}
	if m.files[instance] == nil {
		m.files[instance] = map[string][][]byte{}
	}
	if v := m.files[instance][name]; len(v) > 0 {
		if bytes.Equal(v[0], b) {
			return nil
		}
		return fmt.Errorf("anchortest: file %s/%s exists with other content", instance, name)
	}
	m.files[instance][name] = [][]byte{b}
	return nil
}

// RewriteCheckpoint adds a version to an anchored checkpoint, or creates it.
func (m *Mem) RewriteCheckpoint(instance string, seq uint64, line []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cps[instance] == nil {
		m.cps[instance] = map[uint64][][]byte{}
	}
	m.cps[instance][seq] = append(m.cps[instance][seq], bytes.Clone(line))
}

// Instances implements audit.AnchorStore.
func (m *Mem) Instances(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.Fail; err != nil {
		return nil, err
	}
	var out []string
	for i := range m.cps {
		out = append(out, i)
	}
	for i := range m.files {
		if !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Checkpoints implements audit.AnchorStore.
func (m *Mem) Checkpoints(_ context.Context, instance string) ([]audit.AnchoredCheckpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.Fail; err != nil {
		return nil, err
	}
	var out []audit.AnchoredCheckpoint
	for seq, v := range m.cps[instance] {
		out = append(out, audit.AnchoredCheckpoint{Instance: instance, Seq: seq, Line: bytes.Clone(v[0]), Versions: len(v)})
	}
	slices.SortFunc(out, func(a, b audit.AnchoredCheckpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// Files implements audit.AnchorStore.
func (m *Mem) Files(_ context.Context, instance string) ([]audit.AnchoredFile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.Fail; err != nil {
		return nil, err
	}
	var out []audit.AnchoredFile
	for name, v := range m.files[instance] {
		out = append(out, audit.AnchoredFile{Instance: instance, Name: name, Size: int64(len(v[0])), Versions: len(v)})
	}
	slices.SortFunc(out, func(a, b audit.AnchoredFile) int { return audit.CompareFileNames(a.Name, b.Name) })
	return out, nil
}

// OpenFile implements audit.AnchorStore.
func (m *Mem) OpenFile(_ context.Context, instance, name string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.Fail; err != nil {
		return nil, err
	}
	v := m.files[instance][name]
	if len(v) == 0 {
		return nil, fmt.Errorf("anchortest: no file %s/%s", instance, name)
	}
	return io.NopCloser(bytes.NewReader(v[0])), nil
}

var _ audit.AnchorStore = (*Mem)(nil)
