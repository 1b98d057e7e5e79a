package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Kinds of record written by the log itself. Append refuses them.
const (
	KindStart      = "start"
	KindCheckpoint = "checkpoint"
	KindRecovery   = "recovery"
	KindRecovered  = "recovered"
)

// Reasons of a start record.
const (
	StartReasonStart  = "start"
	StartReasonRotate = "rotate"
)

// MaxLineBytes is the longest line the log writes and the readers accept.
const MaxLineBytes = 16 << 20

// ZeroHash is the prev of the first record of a chain.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// checkpointDomain prefixes the message a checkpoint signs.
const checkpointDomain = "weightgate-audit-checkpoint\n"

const (
	hashPrefix = `,"hash":"`
	// suffixLen is the length of `,"hash":"<64 hex>"}` that ends every line.
	suffixLen  = len(hashPrefix) + 64 + 2
	maxKindLen = 64
)

// StartRecord is the record of a "start" entry.
type StartRecord struct {
	Reason       string `json:"reason"`
	File         string `json:"file"`
	PID          int    `json:"pid"`
	PreviousFile string `json:"previous_file,omitempty"`
}

// CheckpointRecord is the record of a "checkpoint" entry.
type CheckpointRecord struct {
	HeadSeq  uint64 `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	KeyID    string `json:"key_id"`
	Sig      []byte `json:"sig"` // base64 in JSON
}

// RecoveryRecord is the record of a "recovery" entry.
type RecoveryRecord struct {
	TornBytes   int64  `json:"torn_bytes"`
	KeptAside   string `json:"kept_aside"`
	LastGoodSeq uint64 `json:"last_good_seq"`
}

// RecoveredRecord is the record of a "recovered" entry.
type RecoveredRecord struct {
	Error string    `json:"error"`
	Since time.Time `json:"since"`
}

// KeyID returns the key_id of a checkpoint public key: the hex of the first
// 16 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// CheckpointMessage returns the bytes a checkpoint signs for head seq and hash.
func CheckpointMessage(headSeq uint64, headHash string) []byte {
	return []byte(checkpointDomain + strconv.FormatUint(headSeq, 10) + "\n" + headHash + "\n")
}

func validKind(kind string) error {
	if kind == "" || len(kind) > maxKindLen {
		return fmt.Errorf("audit: kind must be 1 to %d bytes", maxKindLen)
	}
	for i := 0; i < len(kind); i++ {
		c := kind[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '-'
		if !ok {
			return fmt.Errorf("audit: kind %q: only [A-Za-z0-9_.:-] allowed", kind)
		}
	}
	return nil
}

// marshalRecord encodes rec and checks that it is a JSON object.
// json.Marshal compacts the output of Marshalers (json.RawMessage included),
// so the result holds no newline and no insignificant whitespace.
func marshalRecord(rec any) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("audit: encode record: %w", err)
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("audit: record must encode to a JSON object, got %.20q", b)
	}
	return b, nil
}

// appendLine appends the complete line (with hash and '\n') for one record to
// buf and returns the extended buffer and the record's hash.
func appendLine(buf []byte, seq uint64, t time.Time, kind, prev string, record []byte) ([]byte, string) {
	start := len(buf)
	buf = append(buf, `{"seq":`...)
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, `,"time":"`...)
	buf = t.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","kind":"`...)
	buf = append(buf, kind...) // validKind: no characters need escaping
	buf = append(buf, `","prev":"`...)
	buf = append(buf, prev...)
	buf = append(buf, `","record":`...)
	buf = append(buf, record...)
	buf = append(buf, '}')
	sum := sha256.Sum256(buf[start:])
	h := hex.EncodeToString(sum[:])
	buf = buf[:len(buf)-1]
	buf = append(buf, hashPrefix...)
	buf = append(buf, h...)
	buf = append(buf, `"}`...)
	buf = append(buf, '\n')
	return buf, h
}

// lineError is a problem with a single line, before any chain checks.
type lineError struct {
	reason string
	// selfConsistent is false when the line may be a torn write (it does
	// not end in a valid hash field, or the hash does not match).
	selfConsistent bool
}

func (e *lineError) Error() string { return e.reason }

// parsedLine is one decoded line.
type parsedLine struct {
	Seq    uint64
	Time   time.Time
	Kind   string
	Prev   string
	Record json.RawMessage
	Hash   string
}

type rawLine struct {
	Seq    uint64          `json:"seq"`
	Time   json.RawMessage `json:"time"`
	Kind   json.RawMessage `json:"kind"`
	Prev   string          `json:"prev"`
	Record json.RawMessage `json:"record"`
}

func isLowerHex(s []byte) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// splitHash cuts the fixed-length hash suffix off line (without '\n') and
// returns the body (with its closing '}') and the stored hash.
func splitHash(line []byte) (body []byte, hash string, ok bool) {
	if len(line) < suffixLen+2 {
		return nil, "", false
	}
	suf := line[len(line)-suffixLen:]
	if !bytes.HasPrefix(suf, []byte(hashPrefix)) || !bytes.HasSuffix(suf, []byte(`"}`)) {
		return nil, "", false
	}
	h := suf[len(hashPrefix) : len(hashPrefix)+64]
	if !isLowerHex(h) {
		return nil, "", false
	}
	body = make([]byte, 0, len(line)-suffixLen+1)
	body = append(body, line[:len(line)-suffixLen]...)
	body = append(body, '}')
	return body, string(h), true
}

// checkLine checks one line (without its '\n'): hash suffix, hash, and the
// canonical layout of the body. It returns the decoded line; on error the
// decoded line is filled as far as it could be decoded.
func checkLine(line []byte) (parsedLine, *lineError) {
	var p parsedLine
	body, h, ok := splitHash(line)
	if !ok {
		return p, &lineError{reason: "unparsable: line does not end with a hash field"}
	}
	p.Hash = h
	sum := sha256.Sum256(body)
	got := hex.EncodeToString(sum[:])
	var raw rawLine
	decErr := json.Unmarshal(body, &raw)
	if decErr == nil {
		p.Seq = raw.Seq
	}
	if got != h {
		return p, &lineError{reason: fmt.Sprintf("hash mismatch: line was altered (stored %s, computed %s)", h, got)}
	}
	// From here on the hash is right: the line is exactly what some writer
	// hashed, so a problem is a forged or foreign line, not a torn write.
	if decErr != nil {
		return p, &lineError{reason: "unparsable: " + decErr.Error(), selfConsistent: true}
	}
	var ts, kind string
	if err := json.Unmarshal(raw.Time, &ts); err != nil {
		return p, &lineError{reason: "unparsable: time is not a string", selfConsistent: true}
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return p, &lineError{reason: "unparsable: bad time: " + err.Error(), selfConsistent: true}
	}
	if !strings.HasSuffix(ts, "Z") {
		return p, &lineError{reason: "unparsable: time is not UTC", selfConsistent: true}
	}
	if err := json.Unmarshal(raw.Kind, &kind); err != nil || validKind(kind) != nil {
		return p, &lineError{reason: "unparsable: bad kind", selfConsistent: true}
	}
	if len(raw.Prev) != 64 || !isLowerHex([]byte(raw.Prev)) {
		return p, &lineError{reason: "unparsable: prev is not 64 hex digits", selfConsistent: true}
	}
	if len(raw.Record) == 0 || raw.Record[0] != '{' {
		return p, &lineError{reason: "unparsable: record is not a JSON object", selfConsistent: true}
	}
	// Rebuild the canonical body from the raw pieces and compare: this
	// rejects reordered, duplicated, missing or extra keys and whitespace
	// without re-serialising anything that is hashed.
	var canon []byte
	canon = append(canon, `{"seq":`...)
	canon = strconv.AppendUint(canon, raw.Seq, 10)
	canon = append(canon, `,"time":`...)
	canon = append(canon, raw.Time...)
	canon = append(canon, `,"kind":`...)
	canon = append(canon, raw.Kind...)
	canon = append(canon, `,"prev":"`...)
	canon = append(canon, raw.Prev...)
	canon = append(canon, `","record":`...)
	canon = append(canon, raw.Record...)
	canon = append(canon, '}')
	if !bytes.Equal(canon, body) {
		return p, &lineError{reason: "unparsable: fields not in canonical order or form", selfConsistent: true}
	}
	p.Time, p.Kind, p.Prev, p.Record = t, kind, raw.Prev, raw.Record
	return p, nil
}

// lineReader reads '\n'-terminated lines of at most MaxLineBytes.
type lineReader struct {
	r    *bufio.Reader
	buf  []byte
	off  int64 // offset of the next line
	line int   // number of the last line returned, 1-based
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

var errLineTooLong = errors.New("line longer than 16 MiB")

// next returns the next line without its '\n', whether it had one, and its
// offset. At the end it returns io.EOF. The returned slice is valid until the
// next call.
func (lr *lineReader) next() (line []byte, complete bool, off int64, err error) {
	lr.buf = lr.buf[:0]
	off = lr.off
	for {
		frag, err := lr.r.ReadSlice('\n')
		if len(lr.buf)+len(frag) > MaxLineBytes+1 {
			return nil, false, off, errLineTooLong
		}
		lr.buf = append(lr.buf, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(lr.buf) == 0 {
				return nil, false, off, io.EOF
			}
			lr.off += int64(len(lr.buf))
			lr.line++
			return lr.buf, false, off, nil
		}
		if err != nil {
			return nil, false, off, err
		}
		lr.off += int64(len(lr.buf))
		lr.line++
		return lr.buf[:len(lr.buf)-1], true, off, nil
	}
}
