package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/weightgate/weightgate/catalog"
)

// errUnverified makes classify verify exit 1: the file was read and its
// classification does not verify.
var errUnverified = errors.New("classification not verified")

// stringList is a repeatable flag whose values may also be comma-separated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func (m *Main) classify(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "sign":
			return m.classifySign(args[1:])
		case "verify":
			return m.classifyVerify(args[1:])
		case "-h", "-help", "--help", "help":
			fmt.Fprint(m.Stdout, classifyUsage)
			return flag.ErrHelp
		}
	}
	fmt.Fprint(m.Stderr, classifyUsage)
	return errors.New("classify: want sign or verify")
}

const classifyUsage = `Usage:
  weightgate classify sign --key PRIVATE.pem --model ORG/NAME [--by NAME] [--basis self-assessment|ccats:NUMBER] [--at TIME] DIR/export.yaml
        sign the file's classification in place (its signature: block)
  weightgate classify verify --keys PUBLIC.pem[,...] [--model ORG/NAME] FILE
        exit 0 when a listed key signed the file's classification for the model, 1 when not, 2 on error
`

func (m *Main) classifySign(args []string) error {
	fs := m.newFlagSet("classify sign", "--key PRIVATE.pem --model ORG/NAME [--by NAME] [--basis B] [--at TIME] FILE")
	keyPath := fs.String("key", "", "the compliance key: PEM PKCS#8 Ed25519 private key")
	model := fs.String("model", "", "the model id ORG/NAME the classification is for")
	by := fs.String("by", "", "who classified it (default: the current user's name)")
	basis := fs.String("basis", catalog.BasisSelfAssessment, `on what basis: "self-assessment" or "ccats:NUMBER" (a BIS Commodity Classification)`)
	at := fs.String("at", "", "when it was classified, RFC 3339 (default: now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *keyPath == "" || *model == "" {
		fs.Usage()
		return errors.New("classify sign: --key, --model and one export.yaml are required")
	}
	file := fs.Arg(0)
	when := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("classify sign: --at: %w", err)
		}
		when = t
	}
	if *by == "" {
		u, err := user.Current()
		if err != nil || u.Username == "" {
			return errors.New("classify sign: --by is required (the current user's name is unknown)")
		}
		*by = u.Username
	}
	priv, err := catalog.LoadClassificationPrivateKey(*keyPath)
	if err != nil {
		return fmt.Errorf("classify sign: --key: %w", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("classify sign: %w", err)
	}
	if len(b) > catalog.MaxManifestSize {
		return fmt.Errorf("classify sign: %s is %d bytes, more than the %d allowed", file, len(b), catalog.MaxManifestSize)
	}
	out, err := catalog.SignManifest(b, priv, *model, *by, when, *basis)
	if err != nil {
		return fmt.Errorf("classify sign: %s: %w", file, err)
	}
	if len(out) > catalog.MaxManifestSize {
		return fmt.Errorf("classify sign: signed, %s would be %d bytes, more than the %d allowed", file, len(out), catalog.MaxManifestSize)
	}
	if err := writeFileAtomic(file, out); err != nil {
		return fmt.Errorf("classify sign: %w", err)
	}
	fmt.Fprintf(m.Stdout, "signed %s: model %s, by %s, basis %s\n", file, *model, *by, *basis)
	return nil
}

// writeFileAtomic replaces path with b through a temporary file in the same
// directory, so that a reader (or a sync to storage) never sees half a file.
func writeFileAtomic(path string, b []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".export.yaml-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (m *Main) classifyVerify(args []string) error {
	fs := m.newFlagSet("classify verify", "--keys PUBLIC.pem[,...] [--model ORG/NAME] FILE")
	var keyPaths stringList
	fs.Var(&keyPaths, "keys", "compliance public keys (PEM PKIX Ed25519), repeated or comma-separated")
	model := fs.String("model", "", "the model id ORG/NAME (default: the file's two parent directories)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || len(keyPaths) == 0 {
		fs.Usage()
		return errors.New("classify verify: --keys and one export.yaml are required")
	}
	file := fs.Arg(0)
	id := *model
	if id == "" {
		abs, err := filepath.Abs(file)
		if err != nil {
			return fmt.Errorf("classify verify: %w", err)
		}
		dir := filepath.Dir(abs)
		id = filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		if !catalog.ValidModelID(id) {
			return fmt.Errorf("classify verify: cannot tell the model from the path %s; give --model", file)
		}
	}
	if !catalog.ValidModelID(id) {
		return fmt.Errorf("classify verify: --model must be ORG/NAME, got %q", id)
	}
	keys, err := catalog.LoadClassificationKeys(keyPaths)
	if err != nil {
		return fmt.Errorf("classify verify: --keys: %w", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("classify verify: %w", err)
	}
	if len(b) > catalog.MaxManifestSize {
		return fmt.Errorf("classify verify: %s is %d bytes, more than the %d allowed", file, len(b), catalog.MaxManifestSize)
	}
	man, err := catalog.ParseManifest(b)
	if err != nil {
		// The gateway would not classify it either, but the file is
		// malformed rather than forged: an error, exit 2.
		return fmt.Errorf("classify verify: %s: %w", file, err)
	}
	if err := keys.Verify(id, man); err != nil {
		fmt.Fprintf(m.Stdout, "NOT VERIFIED %s (model %s): %v\nThe gateway treats this model as unclassified.\n", file, id, err)
		return errUnverified
	}
	s := man.Signature
	fmt.Fprintf(m.Stdout, "verified %s: model %s, weights %s, classified by %s at %s, basis %s, key %s\n",
		file, id, man.Weights, s.ClassifiedBy, s.ClassifiedAt.Format(time.RFC3339), s.Basis, s.Key)
	return nil
}
