package audit

import (
	"crypto/sha256"
	"encoding/hex"
)

// Exported for the external tests of anchoring (package audit_test, which
// can import internal/anchortest without an import cycle).
var (
	TestKey      = testKey
	ReadLines    = readLines
	WriteLines   = writeLines
	DiscardLog   = discardLogger
	TestDecision = decision
)

// HashLine is the hash of a line's body.
func HashLine(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}
