package catalog

import (
	"maps"
	"strings"
	"testing"
)

func TestParseManifest(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	f := func(v float64) *float64 { return &v }

	tests := []struct {
		name string
		doc  string
		want Manifest
	}{
		{
			name: "OpenWithoutCompute",
			doc:  "weights: open\n",
			want: Manifest{Weights: "open"},
		},
		{
			name: "FineTune",
			doc:  "weights: closed\ntraining_compute_flop: 2.3e26\nbase_model: open-lab/big-open\nfine_tune_compute_flop: 3.0e25\n",
			want: Manifest{Weights: "closed", TrainingComputeFLOP: f(2.3e26), BaseModel: "open-lab/big-open", FineTuneComputeFLOP: f(3e25)},
		},
		{
			name: "OpenFineTuneZeroAdded",
			doc:  "weights: open\nbase_model: a/b\nfine_tune_compute_flop: 0\n",
			want: Manifest{Weights: "open", BaseModel: "a/b", FineTuneComputeFLOP: f(0)},
		},
		{
			name: "ClosedWithFloatCompute",
			doc:  "weights: closed\ntraining_compute_flop: 3.0e26\n",
			want: Manifest{Weights: "closed", TrainingComputeFLOP: f(3.0e26)},
		},
		{
			name: "IntegerCompute",
			doc:  "weights: closed\ntraining_compute_flop: 100\n",
			want: Manifest{Weights: "closed", TrainingComputeFLOP: f(100)},
		},
		{
			// Too large for int64: yaml.v3 resolves it as !!float.
			name: "HugeIntegerCompute",
			doc:  "weights: closed\ntraining_compute_flop: 300000000000000000000000000\n",
			want: Manifest{Weights: "closed", TrainingComputeFLOP: f(3e26)},
		},
		{
			name: "ZeroCompute",
			doc:  "weights: closed\ntraining_compute_flop: 0\n",
			want: Manifest{Weights: "closed", TrainingComputeFLOP: f(0)},
		},
		{
			name: "OpenWithCompute",
			doc:  "weights: open\ntraining_compute_flop: 1e24\n",
			want: Manifest{Weights: "open", TrainingComputeFLOP: f(1e24)},
		},
		{
			// YAML resolves an unquoted 4E091 as the float 4×10^91; the
			// literal text must survive.
			name: "UnquotedECCN",
			doc:  "weights: closed\ntraining_compute_flop: 1e26\neccn: 4E091\n",
			want: Manifest{Weights: "closed", TrainingComputeFLOP: f(1e26), ECCN: "4E091"},
		},
		{
			name: "QuotedECCN",
			doc:  "weights: open\neccn: \"EAR99\"\n",
			want: Manifest{Weights: "open", ECCN: "EAR99"},
		},
		{
			name: "PlainStringECCN",
			doc:  "weights: open\neccn: EAR99\n",
			want: Manifest{Weights: "open", ECCN: "EAR99"},
		},
		{
			name: "QuotedRevision",
			doc:  "weights: open\nrevision: \"" + rev + "\"\n",
			want: Manifest{Weights: "open", Revision: rev},
		},
		{
			name: "UnquotedRevision",
			doc:  "weights: open\nrevision: " + rev + "\n",
			want: Manifest{Weights: "open", Revision: rev},
		},
		{
			// An all-digit commit id resolves as a number in YAML.
			name: "UnquotedAllDigitRevision",
			doc:  "weights: open\nrevision: 1234567890123456789012345678901234567890\n",
			want: Manifest{Weights: "open", Revision: "1234567890123456789012345678901234567890"},
		},
		{
			// Digits with one "e" read as a float in YAML.
			name: "UnquotedFloatLookingRevision",
			doc:  "weights: open\nrevision: 1234567890123456789012345678901234567e12\n",
			want: Manifest{Weights: "open", Revision: "1234567890123456789012345678901234567e12"},
		},
		{
			name: "KeysInAnyOrderWithComments",
			doc:  "# classification\nrevision: " + rev + "\neccn: 4E091 # controlled\ntraining_compute_flop: 2e26\nweights: closed\n",
			want: Manifest{Weights: "closed", TrainingComputeFLOP: f(2e26), ECCN: "4E091", Revision: rev},
		},
		{
			name: "FlowMapping",
			doc:  "{weights: open}\n",
			want: Manifest{Weights: "open"},
		},
		{
			// Per-file sha256, in either case; an all-digit digest is a
			// YAML number, and its text is what counts.
			name: "FileSHA256",
			doc: "weights: open\nfiles:\n  model.safetensors: {sha256: " + strings.Repeat("AB", 32) + "}\n" +
				"  onnx/model.onnx:\n    sha256: " + strings.Repeat("12", 32) + "\n",
			want: Manifest{Weights: "open", SHA256: map[string]string{
				"model.safetensors": strings.Repeat("ab", 32), "onnx/model.onnx": strings.Repeat("12", 32)}},
		},
		{
			name: "FilesEmpty",
			doc:  "weights: open\nfiles: {}\n",
			want: Manifest{Weights: "open", SHA256: map[string]string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseManifest([]byte(tt.doc))
			if err != nil {
				t.Fatalf("ParseManifest(%q): %v", tt.doc, err)
			}
			if got, want := got.Weights, tt.want.Weights; got != want {
				t.Errorf("Weights = %q, want %q", got, want)
			}
			if got, want := got.ECCN, tt.want.ECCN; got != want {
				t.Errorf("ECCN = %q, want %q", got, want)
			}
			if got, want := got.Revision, tt.want.Revision; got != want {
				t.Errorf("Revision = %q, want %q", got, want)
			}
			if got, want := got.SHA256, tt.want.SHA256; !maps.Equal(got, want) || (got == nil) != (want == nil) {
				t.Errorf("SHA256 = %v, want %v", got, want)
			}
			switch g, w := got.TrainingComputeFLOP, tt.want.TrainingComputeFLOP; {
			case g == nil && w == nil:
			case g == nil || w == nil:
				t.Errorf("TrainingComputeFLOP = %v, want %v", fptr(g), fptr(w))
			case *g != *w:
				t.Errorf("TrainingComputeFLOP = %g, want %g", *g, *w)
			}
		})
	}
}

func fptr(p *float64) any {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestParseManifest_Invalid(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // a substring of the error: the offending key or problem
	}{
		{"UnknownKey", "weights: open\nlicense: mit\n", `"license"`},
		{"UnknownKeyCaseVariant", "Weights: open\n", `"Weights"`},
		{"DuplicateKey", "weights: open\nweights: closed\ntraining_compute_flop: 1\n", `duplicate key "weights"`},
		{"DuplicateECCN", "weights: open\neccn: EAR99\neccn: 4E091\n", `duplicate key "eccn"`},
		{"WeightsMissing", "eccn: EAR99\n", "weights is required"},
		{"WeightsNumber", "weights: 5\n", "weights must be a string"},
		{"WeightsBool", "weights: true\n", "weights must be a string"},
		{"WeightsNull", "weights:\n", "weights must be a string"},
		{"WeightsList", "weights: [open]\n", "weights must be a string"},
		{"WeightsCapitalised", "weights: Open\n", "weights must be open or closed"},
		{"WeightsUpper", "weights: CLOSED\ntraining_compute_flop: 1\n", "weights must be open or closed"},
		{"WeightsOther", "weights: gated\n", "weights must be open or closed"},
		{"WeightsPadded", "weights: \" open\"\n", "weights must be open or closed"},
		{"ClosedWithoutCompute", "weights: closed\n", "training_compute_flop is required"},
		{"BaseWithoutFineTuneCompute", "weights: closed\ntraining_compute_flop: 1\nbase_model: a/b\n", "fine_tune_compute_flop is required with base_model"},
		{"FineTuneComputeWithoutBase", "weights: closed\ntraining_compute_flop: 1\nfine_tune_compute_flop: 1\n", "needs base_model"},
		{"BaseModelNotAnID", "weights: closed\ntraining_compute_flop: 1\nbase_model: big-open\nfine_tune_compute_flop: 1\n", "base_model must be a model id"},
		{"BaseModelTraversal", "weights: closed\ntraining_compute_flop: 1\nbase_model: ../x\nfine_tune_compute_flop: 1\n", "base_model must be a model id"},
		{"BaseModelNumber", "weights: closed\ntraining_compute_flop: 1\nbase_model: 5\nfine_tune_compute_flop: 1\n", "base_model must be a string"},
		{"FineTuneComputeNegative", "weights: closed\ntraining_compute_flop: 1\nbase_model: a/b\nfine_tune_compute_flop: -1\n", "fine_tune_compute_flop must not be negative"},
		{"FineTuneComputeString", "weights: closed\ntraining_compute_flop: 1\nbase_model: a/b\nfine_tune_compute_flop: lots\n", "fine_tune_compute_flop must be a number"},
		{"FineTuneComputeInf", "weights: closed\ntraining_compute_flop: 1\nbase_model: a/b\nfine_tune_compute_flop: .inf\n", "fine_tune_compute_flop must be a finite number"},
		{"OpenButECCN4E091", "weights: open\neccn: 4E091\n", "contradicts eccn"},
		{"OpenButECCN4E091Lower", "weights: open\neccn: \" 4e091\"\n", "contradicts eccn"},
		{"NegativeCompute", "weights: closed\ntraining_compute_flop: -1e26\n", "training_compute_flop must not be negative"},
		{"NaNCompute", "weights: closed\ntraining_compute_flop: .nan\n", "training_compute_flop"},
		{"InfCompute", "weights: closed\ntraining_compute_flop: .inf\n", "training_compute_flop"},
		{"NegInfCompute", "weights: closed\ntraining_compute_flop: -.inf\n", "training_compute_flop"},
		{"OverflowCompute", "weights: closed\ntraining_compute_flop: 1e400\n", "training_compute_flop"},
		{"QuotedCompute", "weights: closed\ntraining_compute_flop: \"3e26\"\n", "training_compute_flop must be a number"},
		{"ListCompute", "weights: closed\ntraining_compute_flop: [3e26]\n", "training_compute_flop must be a number"},
		{"MapCompute", "weights: closed\ntraining_compute_flop: {v: 1}\n", "training_compute_flop must be a number"},
		{"NullCompute", "weights: closed\ntraining_compute_flop: null\n", "training_compute_flop must be a number"},
		{"RevisionTooShort", "weights: open\nrevision: 0123456789abcdef0123456789abcdef0123456\n", "revision must be 40 lowercase hex"},
		{"RevisionTooLong", "weights: open\nrevision: 0123456789abcdef0123456789abcdef012345678\n", "revision must be 40 lowercase hex"},
		{"RevisionUppercase", "weights: open\nrevision: 0123456789ABCDEF0123456789abcdef01234567\n", "revision must be 40 lowercase hex"},
		{"RevisionSHA256", "weights: open\nrevision: " + strings.Repeat("a", 64) + "\n", "revision must be 40 lowercase hex"},
		{"RevisionEmpty", "weights: open\nrevision: \"\"\n", "revision must be 40 lowercase hex"},
		{"RevisionBool", "weights: open\nrevision: true\n", "revision must be a string"},
		{"Empty", "", "empty"},
		{"OnlyComment", "# nothing here\n", "empty"},
		{"TwoDocuments", "weights: open\n---\nweights: closed\n", "more than one YAML document"},
		{"TopLevelList", "- weights: open\n", "top level must be a mapping"},
		{"TopLevelScalar", "open\n", "top level must be a mapping"},
		{"ECCNBool", "weights: open\neccn: true\n", "eccn must be a string"},
		{"ECCNNull", "weights: open\neccn: null\n", "eccn must be a string"},
		{"ECCNTilde", "weights: open\neccn: ~\n", "eccn must be a string"},
		{"ECCNList", "weights: open\neccn: [4E091]\n", "eccn must be a string"},
		{"NonStringKey", "weights: open\n1: x\n", "keys must be strings"},
		{"MergeKey", "<<: {weights: open}\n", "keys must be strings"},
		{"AliasValue", "eccn: &e EAR99\nweights: *e\n", "weights must be a string"},
		{"SyntaxError", "weights: [open\n", "export.yaml"},
		{"FilesList", "weights: open\nfiles: [a]\n", "files must be a mapping"},
		{"FilesShortHash", "weights: open\nfiles:\n  a.bin: {sha256: abc}\n", "sha256 must be 64 hex digits"},
		{"FilesNotHex", "weights: open\nfiles:\n  a.bin: {sha256: " + strings.Repeat("g", 64) + "}\n", "sha256 must be 64 hex digits"},
		{"FilesBareHash", "weights: open\nfiles:\n  a.bin: " + strings.Repeat("a", 64) + "\n", `"a.bin" must be a mapping`},
		{"FilesUnknownKey", "weights: open\nfiles:\n  a.bin: {sha1: x}\n", `unknown key "sha1"`},
		{"FilesNoHash", "weights: open\nfiles:\n  a.bin: {}\n", "has no sha256"},
		{"FilesDuplicatePath", "weights: open\nfiles:\n  a.bin: {sha256: " + strings.Repeat("a", 64) + "}\n  a.bin: {sha256: " + strings.Repeat("b", 64) + "}\n", `duplicate path "a.bin"`},
		{"FilesDuplicateHash", "weights: open\nfiles:\n  a.bin: {sha256: " + strings.Repeat("a", 64) + ", sha256: " + strings.Repeat("b", 64) + "}\n", "duplicate key sha256"},
		{"FilesTraversal", "weights: open\nfiles:\n  ../x/a.bin: {sha256: " + strings.Repeat("a", 64) + "}\n", "relative path segment"},
		{"FilesAbsolute", "weights: open\nfiles:\n  /a.bin: {sha256: " + strings.Repeat("a", 64) + "}\n", "empty path segment"},
		{"FilesHashNull", "weights: open\nfiles:\n  a.bin: {sha256: null}\n", "sha256 must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ParseManifest(%q) = %+v, want an error mentioning %q", tt.doc, m, tt.want)
			}
			if got, want := err.Error(), tt.want; !strings.Contains(got, want) {
				t.Errorf("error = %q, want it to mention %q", got, want)
			}
		})
	}
}
