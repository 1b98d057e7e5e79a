package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/catalog"
)

const storeDir = "../../testdata/store"

func testKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	k, err := catalog.LoadClassificationPrivateKey("../../testdata/keys/classify-ed25519.pem")
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// TestGoldenStore regenerates the store into a temporary directory and checks
// that it matches testdata/store byte for byte, with no file missing or extra.
func TestGoldenStore(t *testing.T) {
	tmp := t.TempDir()
	files, err := Generate(testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTo(tmp, files); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, tmp)
	want := readTree(t, storeDir)
	for name, b := range got {
		w, ok := want[name]
		switch {
		case !ok:
			t.Errorf("%s: generated but not in testdata/store (run: go run ./scripts/genstore -out testdata/store)", name)
		case !bytes.Equal(b, w):
			t.Errorf("%s: differs from testdata/store (%d vs %d bytes); regenerate with go run ./scripts/genstore -out testdata/store", name, len(b), len(w))
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: in testdata/store but not generated", name)
		}
	}
}

// TestDeterministic checks that two runs produce identical bytes.
func TestDeterministic(t *testing.T) {
	a, err := Generate(testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for k := range a {
		if !bytes.Equal(a[k], b[k]) {
			t.Errorf("%s differs between runs", k)
		}
	}
}

// TestSafetensorsValid parses every committed .safetensors file.
func TestSafetensorsValid(t *testing.T) {
	files := readTree(t, storeDir)
	n := 0
	for name, b := range files {
		if !strings.HasSuffix(name, ".safetensors") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			if len(b) > 2<<20 {
				t.Errorf("size %d > 2 MiB", len(b))
			}
			checkSafetensors(t, b)
		})
	}
	if n != 9 {
		t.Errorf("found %d safetensors files, want 9", n)
	}
	// The second frontier-x shard is the range/streaming fixture: ~1.5 MiB.
	shard := files["frontier-lab/frontier-x/model-00002-of-00002.safetensors"]
	if len(shard) < 1400<<10 || len(shard) > 2<<20 {
		t.Errorf("frontier-x shard 2 is %d bytes, want ~1.5 MiB", len(shard))
	}
}

// TestStoreLayout checks the export.yaml presence/absence per model and that
// the shard index matches the shard headers.
func TestStoreLayout(t *testing.T) {
	files := readTree(t, storeDir)
	wantExport := map[string]string{
		"open-lab/tiny-open":      "weights: open\ntraining_compute_flop: 8.0e22\n",
		"frontier-lab/frontier-x": "weights: closed\ntraining_compute_flop: 3.0e26\neccn: 4E091\n",
		"frontier-lab/mini-x":     "weights: closed\ntraining_compute_flop: 4.0e24\n",
		"open-lab/big-open":       "weights: open\ntraining_compute_flop: 2.0e26\n",
		"frontier-lab/mid-x":      "weights: closed\ntraining_compute_flop: 1.5e26\n",
		"tune-lab/chat-ft":        "weights: closed\ntraining_compute_flop: 2.3e26\nbase_model: open-lab/big-open\nfine_tune_compute_flop: 3.0e25\n",
		"tune-lab/deep-ft":        "weights: closed\ntraining_compute_flop: 2.6e26\nbase_model: open-lab/big-open\nfine_tune_compute_flop: 6.0e25\n",
	}
	keys, err := catalog.LoadClassificationKeys([]string{"../../testdata/keys/classify-ed25519.pub.pem"})
	if err != nil {
		t.Fatal(err)
	}
	for m, want := range wantExport {
		// The fields, then the signature block by the test compliance key.
		got := string(files[m+"/export.yaml"])
		if !strings.HasPrefix(got, want+"signature:\n") {
			t.Errorf("%s/export.yaml = %q, want %q and a signature", m, got, want)
		}
		man, err := catalog.ParseManifest([]byte(got))
		if err != nil || keys.Verify(m, man) != nil {
			t.Errorf("%s/export.yaml does not verify: %v %v", m, err, keys.Verify(m, man))
		}
	}
	if _, ok := files["unknown-lab/unlabeled/export.yaml"]; ok {
		t.Error("unknown-lab/unlabeled must not have an export.yaml")
	}
	if _, ok := files["unknown-lab/unlabeled/model.safetensors"]; !ok {
		t.Error("unknown-lab/unlabeled/model.safetensors missing")
	}

	var idx struct {
		Metadata struct {
			TotalSize int `json:"total_size"`
		} `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(files["frontier-lab/frontier-x/model.safetensors.index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	total := 0
	for _, shard := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		h := checkSafetensors(t, files["frontier-lab/frontier-x/"+shard])
		for name, ti := range h {
			if idx.WeightMap[name] != shard {
				t.Errorf("index maps %s to %q, but it is in %s", name, idx.WeightMap[name], shard)
			}
			seen[name] = true
			total += ti.DataOffsets[1] - ti.DataOffsets[0]
		}
	}
	if len(seen) != len(idx.WeightMap) {
		t.Errorf("index has %d tensors, shards have %d", len(idx.WeightMap), len(seen))
	}
	if total != idx.Metadata.TotalSize {
		t.Errorf("index total_size %d, shards hold %d tensor bytes", idx.Metadata.TotalSize, total)
	}
}

// checkSafetensors validates the file structure and returns its tensors.
func checkSafetensors(t *testing.T, b []byte) map[string]tensorInfo {
	t.Helper()
	if len(b) < 8 {
		t.Fatalf("file too short: %d bytes", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n == 0 || n > uint64(len(b)-8) {
		t.Fatalf("header length %d out of range (file %d bytes)", n, len(b))
	}
	if (8+n)%8 != 0 {
		t.Errorf("header end %d not 8-byte aligned", 8+n)
	}
	hdr := b[8 : 8+n]
	if strings.TrimRight(string(hdr), " ") != strings.TrimSpace(string(hdr)) || hdr[0] != '{' {
		t.Errorf("header must start with '{' and be padded only with trailing spaces")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		t.Fatalf("header is not valid JSON: %v", err)
	}
	var meta map[string]string
	if err := json.Unmarshal(raw["__metadata__"], &meta); err != nil || meta["format"] != "pt" {
		t.Errorf(`__metadata__ = %s, want {"format":"pt"}`, raw["__metadata__"])
	}
	data := b[8+n:]
	infos := map[string]tensorInfo{}
	type span struct {
		name       string
		begin, end int
	}
	var spans []span
	for name, r := range raw {
		if name == "__metadata__" {
			continue
		}
		var ti tensorInfo
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ti); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ti.DType != F32 && ti.DType != F16 {
			t.Errorf("%s: dtype %q", name, ti.DType)
		}
		if got, want := ti.DataOffsets[1]-ti.DataOffsets[0], numel(ti.Shape)*ti.DType.size(); got != want {
			t.Errorf("%s: offsets span %d bytes, shape %v %s needs %d", name, got, ti.Shape, ti.DType, want)
		}
		infos[name] = ti
		spans = append(spans, span{name, ti.DataOffsets[0], ti.DataOffsets[1]})
	}
	if len(spans) == 0 {
		t.Fatal("no tensors")
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	pos := 0
	for _, s := range spans {
		if s.begin != pos {
			t.Errorf("%s starts at %d, want %d (offsets must be contiguous)", s.name, s.begin, pos)
		}
		pos = s.end
	}
	if pos != len(data) {
		t.Errorf("tensors cover %d bytes, data section is %d", pos, len(data))
	}
	// Values must be finite and plausibly sized.
	for name, ti := range infos {
		seg := data[ti.DataOffsets[0]:ti.DataOffsets[1]]
		for i := 0; i+ti.DType.size() <= len(seg); i += ti.DType.size() {
			var v float64
			if ti.DType == F16 {
				v = float16ToFloat64(binary.LittleEndian.Uint16(seg[i:]))
			} else {
				v = float64(math.Float32frombits(binary.LittleEndian.Uint32(seg[i:])))
			}
			if math.IsNaN(v) || math.Abs(v) > 2 {
				t.Fatalf("%s: value %v at byte %d", name, v, i)
			}
		}
	}
	return infos
}

func float16ToFloat64(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return sign * m * math.Pow(2, -24)
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * (1 + m/1024) * math.Pow(2, float64(e-15))
}

func TestFloat16(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff}, {1e6, 0x7c00},
		{5.960464477539063e-08, 0x0001}, {6.103515625e-05, 0x0400}, {1 + 1.0/2048, 0x3c00}, // ties to even
	} {
		if got := float32ToFloat16(c.in); got != c.want {
			t.Errorf("float32ToFloat16(%v) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	rng := splitmix64(1)
	for i := 0; i < 10000; i++ {
		v := (rng.float32()*2 - 1) * 0.2
		back := float16ToFloat64(float32ToFloat16(v))
		if d := math.Abs(back - float64(v)); d > math.Max(math.Abs(float64(v))/1024, 1e-7) {
			t.Fatalf("%v -> %v (err %v)", v, back, d)
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
