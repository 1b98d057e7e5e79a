package catalog

import (
	"testing"

	"github.com/weightgate/weightgate/policy"
)

func TestObjectKind(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		// Weight formats.
		{"model.safetensors", policy.KindWeights},
		{"model-00001-of-00002.safetensors", policy.KindWeights},
		{"pytorch_model.bin", policy.KindWeights},
		{"model.pt", policy.KindWeights},
		{"model.pth", policy.KindWeights},
		{"model.ckpt", policy.KindWeights},
		{"model-q4_k_m.gguf", policy.KindWeights},
		{"model.onnx", policy.KindWeights},
		{"tf_model.h5", policy.KindWeights},
		{"flax_model.msgpack", policy.KindWeights},
		{"weights.npz", policy.KindWeights},
		{"model.tflite", policy.KindWeights},
		{"onnx/model.onnx", policy.KindWeights},
		{"MODEL.SAFETENSORS", policy.KindWeights},

		// Unknown names fail closed.
		{"model.xyz", policy.KindWeights},
		{"weights", policy.KindWeights},
		{"README.safetensors", policy.KindWeights},
		{"LICENSE.bin", policy.KindWeights},
		{"readme.gguf", policy.KindWeights},
		{"sub/dir/config.json.bin", policy.KindWeights},
		{"config.json/model.bin", policy.KindWeights},
		{"model.safetensors.index.json", policy.KindWeights},
		{"pytorch_model.bin.index.json", policy.KindWeights},
		{"config.yaml", policy.KindWeights},
		{"other.json", policy.KindWeights},
		{"", policy.KindWeights},

		// The explicit list of non-weights.
		{"README.md", policy.KindOther},
		{"README", policy.KindOther},
		{"readme.txt", policy.KindOther},
		{"README.rst", policy.KindOther},
		{"LICENSE", policy.KindOther},
		{"LICENSE-APACHE", policy.KindOther},
		{"LICENSE.txt", policy.KindOther},
		{"notes.md", policy.KindOther},
		{"a/b/c.txt", policy.KindOther},
		{"config.json", policy.KindOther},
		{"Config.JSON", policy.KindOther},
		{"generation_config.json", policy.KindOther},
		{"tokenizer.json", policy.KindOther},
		{"tokenizer_config.json", policy.KindOther},
		{"special_tokens_map.json", policy.KindOther},
		{"added_tokens.json", policy.KindOther},
		{"vocab.json", policy.KindOther},
		{"merges.txt", policy.KindOther},
		{"tokenizer.model", policy.KindOther},
		{"export.yaml", policy.KindOther},
		// Only the manifest itself: anything else so named may hold weights.
		{"sub/export.yaml", policy.KindWeights},
		{"EXPORT.YAML", policy.KindWeights},
		{"Export.yaml", policy.KindWeights},
		{"text_encoder/config.json", policy.KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got, want := ObjectKind(tt.path), tt.want; got != want {
				t.Errorf("ObjectKind(%q) = %q, want %q", tt.path, got, want)
			}
		})
	}
}
