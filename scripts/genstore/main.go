// Command genstore writes the model-store fixture used by weightgate's tests
// (testdata/store). The output is fully deterministic: running
//
//	go run ./scripts/genstore -out testdata/store
//
// reproduces the committed files byte for byte (TestGoldenStore checks this).
//
// Layout: a model is the key prefix {org}/{name}/; its export classification
// is {org}/{name}/export.yaml. Weight files are real safetensors files
// (8-byte little-endian header length, JSON header padded with spaces to a
// multiple of 8, then the raw little-endian tensor bytes) holding seeded
// pseudo-random tensors of a tiny transformer. The pseudo-random generator
// and float16 conversion are implemented here so the bytes do not depend on
// the Go release.
//
// Every export.yaml is signed (its signature: block) with the test
// compliance key testdata/keys/classify-ed25519.pem, at a fixed time, as
// weightgate classify sign does: Ed25519 signatures are deterministic, so
// the files are too.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/weightgate/weightgate/catalog"
)

func main() {
	out := flag.String("out", "testdata/store", "directory to write the store into")
	keyPath := flag.String("key", "testdata/keys/classify-ed25519.pem", "the compliance key that signs each export.yaml")
	models := flag.Int("models", 0, "instead of the fixture, write a catalog of this many generated models (see WriteCatalog)")
	etagXattr := flag.Bool("etag-xattr", false, "with -models: give each file the user.etag attribute VersityGW's posix backend keeps an object's ETag in, so that -out can be a VersityGW bucket directory")
	flag.Parse()
	key, err := catalog.LoadClassificationPrivateKey(*keyPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genstore:", err)
		os.Exit(1)
	}
	if *models > 0 {
		files, err := WriteCatalog(*out, *models, key, *etagXattr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genstore:", err)
			os.Exit(1)
		}
		fmt.Printf("genstore: wrote %d models (%d files) to %s\n", *models, files, *out)
		return
	}
	files, err := Generate(key)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genstore:", err)
		os.Exit(1)
	}
	if err := WriteTo(*out, files); err != nil {
		fmt.Fprintln(os.Stderr, "genstore:", err)
		os.Exit(1)
	}
	total := 0
	for _, b := range files {
		total += len(b)
	}
	fmt.Printf("genstore: wrote %d files (%d bytes) to %s\n", len(files), total, *out)
}

// WriteTo writes files (slash-separated relative path -> content) under dir.
func WriteTo(dir string, files map[string][]byte) error {
	for _, name := range sortedKeys(files) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// The signed classification's record: who, when and on what basis.
const (
	signedBy    = "weightgate test compliance (testdata key, not a real classification)"
	signedBasis = catalog.BasisSelfAssessment
)

var signedAt = time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)

// Generate returns every file of the store, keyed by slash-separated path
// relative to the store root, each export.yaml signed with key.
func Generate(key ed25519.PrivateKey) (map[string][]byte, error) {
	files := map[string][]byte{}
	add := func(name string, b []byte) { files[name] = b }

	// open-lab/tiny-open: open weights, small F32 model, single file.
	{
		const m = "open-lab/tiny-open/"
		arch := arch{Vocab: 256, Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, TieEmbeddings: true}
		ts := arch.tensors(F32, 0x7469_6e79_6f70_656e) // "tinyopen"
		st, err := encodeSafetensors(ts)
		if err != nil {
			return nil, err
		}
		add(m+"export.yaml", []byte("weights: open\ntraining_compute_flop: 8.0e22\n"))
		add(m+"model.safetensors", st)
		add(m+"config.json", arch.config("F32", "tiny-open"))
		add(m+"tokenizer.json", tokenizerJSON(arch.Vocab))
		// An empty file, as models ship them (__init__.py, placeholders):
		// clients probe files with ranges a 0-byte file cannot satisfy.
		add(m+"__init__.py", []byte{})
		add(m+"README.md", []byte(readme("tiny-open", "open-lab",
			"An open-weights model (`weights: open`, 8.0e22 FLOP). Every caller may download it.",
			"`model.safetensors` (F32, single file), `config.json`, `tokenizer.json`, an empty `__init__.py`.")))
	}

	// frontier-lab/frontier-x: closed weights above the compute threshold,
	// sharded F16 model; the second shard is ~1.5 MiB for range tests.
	{
		const m = "frontier-lab/frontier-x/"
		arch := arch{Vocab: 1024, Hidden: 160, Intermediate: 448, Layers: 4, Heads: 5}
		ts := arch.tensors(F16, 0x6672_6f6e_7469_6572) // "frontier"
		// Shard 1: embeddings and layers 0-1; shard 2: layers 2-3, norm, lm_head.
		var s1, s2 []tensor
		for _, t := range ts {
			if t.Name == "model.embed_tokens.weight" || hasPrefix(t.Name, "model.layers.0.") || hasPrefix(t.Name, "model.layers.1.") {
				s1 = append(s1, t)
			} else {
				s2 = append(s2, t)
			}
		}
		const n1, n2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
		b1, err := encodeSafetensors(s1)
		if err != nil {
			return nil, err
		}
		b2, err := encodeSafetensors(s2)
		if err != nil {
			return nil, err
		}
		add(m+"export.yaml", []byte("weights: closed\ntraining_compute_flop: 3.0e26\neccn: 4E091\n"))
		add(m+n1, b1)
		add(m+n2, b2)
		add(m+"model.safetensors.index.json", indexJSON(map[string][]tensor{n1: s1, n2: s2}))
		add(m+"config.json", arch.config("F16", "frontier-x"))
		add(m+"README.md", []byte(readme("frontier-x", "frontier-lab",
			"A closed-weights frontier model (`weights: closed`, 3.0e26 FLOP, ECCN 4E091). Only authorised callers may download the weights.",
			"Two F16 shards (`model-0000{1,2}-of-00002.safetensors`, the second about 1.5 MiB), `model.safetensors.index.json`, `config.json`.")))
	}

	// frontier-lab/mini-x: closed weights below the compute threshold.
	{
		const m = "frontier-lab/mini-x/"
		arch := arch{Vocab: 512, Hidden: 96, Intermediate: 192, Layers: 2, Heads: 4}
		ts := arch.tensors(F16, 0x6d69_6e69_782d_3031) // "minix-01"
		st, err := encodeSafetensors(ts)
		if err != nil {
			return nil, err
		}
		add(m+"export.yaml", []byte("weights: closed\ntraining_compute_flop: 4.0e24\n"))
		add(m+"model.safetensors", st)
		add(m+"config.json", arch.config("F16", "mini-x"))
	}

	// unknown-lab/unlabeled: no export.yaml at all (unclassified model).
	{
		const m = "unknown-lab/unlabeled/"
		arch := arch{Vocab: 128, Hidden: 48, Intermediate: 96, Layers: 1, Heads: 2, TieEmbeddings: true}
		ts := arch.tensors(F32, 0x756e_6c61_6265_6c64) // "unlabeld"
		st, err := encodeSafetensors(ts)
		if err != nil {
			return nil, err
		}
		add(m+"model.safetensors", st)
		add(m+"config.json", arch.config("F32", "unlabeled"))
	}

	// Models for the policy's finer points, each one tiny single-file F16
	// model: the open-weight frontier, a closed model between 1e26 and that
	// frontier, and two fine-tunes of the frontier model on either side of
	// 4E091's fine-tuning bar max(2.5e25, 25% of 2.0e26 = 5e25).
	for i, pm := range []struct{ id, export, about string }{
		{"open-lab/big-open", "weights: open\ntraining_compute_flop: 2.0e26\n",
			"An open-weights model trained with 2.0e26 FLOP: the open-weight frontier of this store."},
		{"frontier-lab/mid-x", "weights: closed\ntraining_compute_flop: 1.5e26\n",
			"A closed model above 1e26 FLOP but below the open-weight frontier (2.0e26)."},
		{"tune-lab/chat-ft", "weights: closed\ntraining_compute_flop: 2.3e26\nbase_model: open-lab/big-open\nfine_tune_compute_flop: 3.0e25\n",
			"A closed fine-tune of open-lab/big-open that added 3.0e25 FLOP: under the 5e25 bar."},
		{"tune-lab/deep-ft", "weights: closed\ntraining_compute_flop: 2.6e26\nbase_model: open-lab/big-open\nfine_tune_compute_flop: 6.0e25\n",
			"A closed fine-tune of open-lab/big-open that added 6.0e25 FLOP: over the 5e25 bar."},
	} {
		org, name, _ := strings.Cut(pm.id, "/")
		arch := arch{Vocab: 128, Hidden: 32, Intermediate: 64, Layers: 1, Heads: 2, TieEmbeddings: true}
		st, err := encodeSafetensors(arch.tensors(F16, 0x706f_6c69_6379_0000+uint64(i))) // "policy"
		if err != nil {
			return nil, err
		}
		m := pm.id + "/"
		add(m+"export.yaml", []byte(pm.export))
		add(m+"model.safetensors", st)
		add(m+"config.json", arch.config("F16", name))
		add(m+"README.md", []byte(readme(name, org, pm.about, "`model.safetensors` (F16, single file), `config.json`.")))
	}

	for name, b := range files {
		id, ok := strings.CutSuffix(name, "/"+catalog.ManifestName)
		if !ok {
			continue
		}
		signed, err := catalog.SignManifest(b, key, id, signedBy, signedAt, signedBasis)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		files[name] = signed
	}
	for name, b := range files {
		if len(b) > 2<<20 {
			return nil, fmt.Errorf("%s is %d bytes, over the 2 MiB fixture limit", name, len(b))
		}
	}
	return files, nil
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---- tensors -------------------------------------------------------------

// DType is a safetensors dtype.
type DType string

const (
	F32 DType = "F32"
	F16 DType = "F16"
)

func (d DType) size() int {
	if d == F16 {
		return 2
	}
	return 4
}

type tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte // little-endian
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// arch describes a tiny Llama-like decoder.
type arch struct {
	Vocab, Hidden, Intermediate, Layers, Heads int
	TieEmbeddings                              bool
}

// tensors returns the model's tensors, filled from a generator seeded with seed.
// Names follow the Hugging Face Llama convention.
func (a arch) tensors(dt DType, seed uint64) []tensor {
	type spec struct {
		name  string
		shape []int
		norm  bool
	}
	var specs []spec
	specs = append(specs, spec{"model.embed_tokens.weight", []int{a.Vocab, a.Hidden}, false})
	for i := 0; i < a.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		specs = append(specs,
			spec{p + "input_layernorm.weight", []int{a.Hidden}, true},
			spec{p + "self_attn.q_proj.weight", []int{a.Hidden, a.Hidden}, false},
			spec{p + "self_attn.k_proj.weight", []int{a.Hidden, a.Hidden}, false},
			spec{p + "self_attn.v_proj.weight", []int{a.Hidden, a.Hidden}, false},
			spec{p + "self_attn.o_proj.weight", []int{a.Hidden, a.Hidden}, false},
			spec{p + "post_attention_layernorm.weight", []int{a.Hidden}, true},
			spec{p + "mlp.gate_proj.weight", []int{a.Intermediate, a.Hidden}, false},
			spec{p + "mlp.up_proj.weight", []int{a.Intermediate, a.Hidden}, false},
			spec{p + "mlp.down_proj.weight", []int{a.Hidden, a.Intermediate}, false},
		)
	}
	specs = append(specs, spec{"model.norm.weight", []int{a.Hidden}, true})
	if !a.TieEmbeddings {
		specs = append(specs, spec{"lm_head.weight", []int{a.Vocab, a.Hidden}, false})
	}

	rng := splitmix64(seed)
	out := make([]tensor, 0, len(specs))
	for _, s := range specs {
		n := numel(s.shape)
		data := make([]byte, n*dt.size())
		// Uniform in [-scale, scale), Xavier-like; norms are near 1.
		scale := float32(1 / math.Sqrt(float64(s.shape[len(s.shape)-1])))
		for j := 0; j < n; j++ {
			u := rng.float32()*2 - 1 // [-1, 1)
			v := u * scale
			if s.norm {
				v = 1 + u*0.05
			}
			switch dt {
			case F16:
				binary.LittleEndian.PutUint16(data[j*2:], float32ToFloat16(v))
			default:
				binary.LittleEndian.PutUint32(data[j*4:], math.Float32bits(v))
			}
		}
		out = append(out, tensor{Name: s.name, DType: dt, Shape: s.shape, Data: data})
	}
	return out
}

// splitmix64 is a tiny, well-known PRNG with a fixed output sequence.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float32 returns a value in [0, 1) with 24 random bits (exact in float32).
func (s *splitmix64) float32() float32 {
	return float32(s.next()>>40) / (1 << 24)
}

// float32ToFloat16 converts to IEEE 754 binary16 bits, rounding to nearest even.
func float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b >> 23) & 0xff)
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf/NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp == 0 && mant == 0:
		return sign
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00 // overflow -> Inf
	}
	if e <= 0 { // subnormal half (or underflow to zero)
		if e < -10 {
			return sign
		}
		m := mant | 0x800000 // implicit leading 1
		shift := uint(14 - e)
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is still correct
	}
	return sign | uint16(h)
}

// ---- encoders ------------------------------------------------------------

type tensorInfo struct {
	DType       DType  `json:"dtype"`
	Shape       []int  `json:"shape"`
	DataOffsets [2]int `json:"data_offsets"`
}

// encodeSafetensors lays the tensors out in name order (the order of the
// keys in the JSON header) and returns the file bytes.
func encodeSafetensors(ts []tensor) ([]byte, error) {
	sorted := append([]tensor(nil), ts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })

	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	off := 0
	for _, t := range sorted {
		if want := numel(t.Shape) * t.DType.size(); want != len(t.Data) {
			return nil, fmt.Errorf("tensor %s: %d bytes of data, shape needs %d", t.Name, len(t.Data), want)
		}
		header[t.Name] = tensorInfo{DType: t.DType, Shape: t.Shape, DataOffsets: [2]int{off, off + len(t.Data)}}
		off += len(t.Data)
	}
	h, err := json.Marshal(header) // map keys are sorted: deterministic
	if err != nil {
		return nil, err
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	var buf bytes.Buffer
	buf.Grow(8 + len(h) + off)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(h)))
	buf.Write(n[:])
	buf.Write(h)
	for _, t := range sorted {
		buf.Write(t.Data)
	}
	return buf.Bytes(), nil
}

func indexJSON(shards map[string][]tensor) []byte {
	type index struct {
		Metadata  map[string]int    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	idx := index{Metadata: map[string]int{}, WeightMap: map[string]string{}}
	total := 0
	for file, ts := range shards {
		for _, t := range ts {
			idx.WeightMap[t.Name] = file
			total += len(t.Data)
		}
	}
	idx.Metadata["total_size"] = total
	return mustJSON(idx)
}

func (a arch) config(dtype, name string) []byte {
	torchDType := map[string]string{"F32": "float32", "F16": "float16"}[dtype]
	cfg := struct {
		Architectures         []string `json:"architectures"`
		ModelType             string   `json:"model_type"`
		NameOrPath            string   `json:"_name_or_path"`
		HiddenSize            int      `json:"hidden_size"`
		IntermediateSize      int      `json:"intermediate_size"`
		NumHiddenLayers       int      `json:"num_hidden_layers"`
		NumAttentionHeads     int      `json:"num_attention_heads"`
		NumKeyValueHeads      int      `json:"num_key_value_heads"`
		VocabSize             int      `json:"vocab_size"`
		MaxPositionEmbeddings int      `json:"max_position_embeddings"`
		RMSNormEps            float64  `json:"rms_norm_eps"`
		TieWordEmbeddings     bool     `json:"tie_word_embeddings"`
		TorchDType            string   `json:"torch_dtype"`
	}{
		Architectures:         []string{"LlamaForCausalLM"},
		ModelType:             "llama",
		NameOrPath:            name,
		HiddenSize:            a.Hidden,
		IntermediateSize:      a.Intermediate,
		NumHiddenLayers:       a.Layers,
		NumAttentionHeads:     a.Heads,
		NumKeyValueHeads:      a.Heads,
		VocabSize:             a.Vocab,
		MaxPositionEmbeddings: 512,
		RMSNormEps:            1e-5,
		TieWordEmbeddings:     a.TieEmbeddings,
		TorchDType:            torchDType,
	}
	return mustJSON(cfg)
}

// tokenizerJSON returns a minimal Hugging Face tokenizers file with a
// byte-level WordLevel vocabulary of the given size.
func tokenizerJSON(vocab int) []byte {
	v := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
	for i := 3; i < vocab; i++ {
		v[fmt.Sprintf("<0x%02X>", i-3)] = i
	}
	tok := struct {
		Version       string `json:"version"`
		AddedTokens   []any  `json:"added_tokens"`
		Normalizer    any    `json:"normalizer"`
		PreTokenizer  any    `json:"pre_tokenizer"`
		PostProcessor any    `json:"post_processor"`
		Decoder       any    `json:"decoder"`
		Model         any    `json:"model"`
	}{
		Version: "1.0",
		AddedTokens: []any{
			map[string]any{"id": 0, "content": "<unk>", "special": true},
			map[string]any{"id": 1, "content": "<s>", "special": true},
			map[string]any{"id": 2, "content": "</s>", "special": true},
		},
		PreTokenizer: map[string]any{"type": "Whitespace"},
		Model:        map[string]any{"type": "WordLevel", "vocab": v, "unk_token": "<unk>"},
	}
	return mustJSON(tok)
}

func readme(name, org, policy, files string) string {
	return fmt.Sprintf(`# %s/%s

Synthetic test fixture generated by `+"`scripts/genstore`"+`. It is not a
real model: the weights are seeded pseudo-random numbers.

%s

Files: %s
`, org, name, policy, files)
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// CatalogModelsPerOrg is how many models each organisation of a generated
// catalog holds.
const CatalogModelsPerOrg = 100

// CatalogModel is the id of the i-th model of a generated catalog:
// orgO/modelM with O = i/100 and M = i%100, as the listing issue's store.
func CatalogModel(i int) string {
	return fmt.Sprintf("org%d/model%d", i/CatalogModelsPerOrg, i%CatalogModelsPerOrg)
}

// CatalogClosed reports whether the i-th model of a generated catalog has
// closed weights (one in four), which an anonymous requester may not see.
func CatalogClosed(i int) bool { return i%4 == 3 }

// CatalogFiles is the files of each generated model, sorted.
var CatalogFiles = []string{"config.json", "export.yaml", "model.safetensors"}

// WriteCatalog writes n generated models under dir for listing tests and
// benchmarks: each has a signed export.yaml (open weights, or closed for
// one in four), a config.json and a 1 KiB model.safetensors of
// deterministic bytes. It returns the number of files written.
//
// With etagXattr, each file gets the extended attribute user.etag, the
// MD5 of its content in hex, which is where VersityGW's posix backend
// keeps an object's ETag: the directory is then a bucket VersityGW serves
// as if every file had been uploaded, without uploading 300,000 objects.
func WriteCatalog(dir string, n int, key ed25519.PrivateKey, etagXattr bool) (int, error) {
	weights := make([]byte, 1024)
	rng := splitmix64(0x6361_7461_6c6f_67) // "catalog"
	for i := range weights {
		weights[i] = byte(rng.next())
	}
	files := 0
	for i := range n {
		id := CatalogModel(i)
		export := "weights: open\ntraining_compute_flop: 1.0e22\n"
		if CatalogClosed(i) {
			export = "weights: closed\ntraining_compute_flop: 3.0e26\neccn: 4E091\n"
		}
		signed, err := catalog.SignManifest([]byte(export), key, id, signedBy, signedAt, signedBasis)
		if err != nil {
			return files, fmt.Errorf("%s: %w", id, err)
		}
		d := filepath.Join(dir, filepath.FromSlash(id))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return files, err
		}
		for name, b := range map[string][]byte{
			"config.json":       fmt.Appendf(nil, "{\"model_type\": \"llama\", \"_name_or_path\": %q}\n", id),
			"export.yaml":       signed,
			"model.safetensors": weights,
		} {
			p := filepath.Join(d, name)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return files, err
			}
			if etagXattr {
				sum := md5.Sum(b)
				if err := syscall.Setxattr(p, "user.etag", []byte(hex.EncodeToString(sum[:])), 0); err != nil {
					return files, fmt.Errorf("%s: %w", p, err)
				}
			}
			files++
		}
	}
	return files, nil
}
