package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/weightgate/weightgate/config"
)

// shippedDevData are the SHA-256 digests of the development and test
// artefacts committed under testdata/ that a gateway must not trust in
// production: the keys (their private halves are public: the token keys and
// the compliance key that signs the sample store's classifications), the invented
// licence, VEU, attestation and restricted-party registries, and the
// invented screening lists. A PEM file is listed by its bytes and by the DER
// of each of its blocks, so a copy re-encoded with other line endings or
// headers is still recognised. TestShippedDevData keeps this list equal to
// the files.
//
// Content, not only the path, because the natural way to "deploy" the
// example is to copy it, keys and lists included, to /etc; the path check
// (devDataPath) catches what no digest can: a file edited in place, and the
// test fixtures written later.
var shippedDevData = map[string]string{
	"edcefaf61a363c49234c18569491c6be534fcf33e40091a619e83a4b62e28b2d": "testdata/keys/classify-ed25519.pem",
	"43bdf573ece26c88f98eff4486dddf2204484961eaf15dd9c15f1a2d1eabbfdd": "testdata/keys/classify-ed25519.pem",
	"79a870dd6193e23b9ecc4031a65c29990815c4fbb2bbc86094810910e428aa99": "testdata/keys/classify-ed25519.pub.pem",
	"c38c4c29260353fc154e2974f05ee4b6edd6a0637db63bf0e4299bd84a6f23f3": "testdata/keys/classify-ed25519.pub.pem",
	"05f80b3224c1c28d320192d3394384503bc34ba0fec989aea2c0026237a6c533": "testdata/keys/dev-ed25519.pem",
	"7dce1a55d659322708e42c720e6142878cad6e0d658f8e278bb8859d4ebe8b86": "testdata/keys/dev-ed25519.pem",
	"eac8dff5ff203ecf42ed212e5e5ff50a9ef4071413eac4f6f61656a8e8b1dffb": "testdata/keys/dev-ed25519.pub.pem",
	"94a7d3ddcdb7f94779b9e58bd67e9959f4ff7733877d8ba3897d1e4b8711c554": "testdata/keys/dev-ed25519.pub.pem",
	"271e7a6267ab749729c82861546a265e6593c94c3527d9196baaa7725178eb9f": "testdata/keys/test-ec-p256.pem",
	"968cf608d55412e81874edd1c297edd67cc2620c2c055eb8864a40325cc409f4": "testdata/keys/test-ec-p256.pem",
	"9c32ce6c3c1fe038fc4bdb4c82cc7d44b40f00c20ca17f0f0d2413a93a385794": "testdata/keys/test-ec-p256.pub.pem",
	"6c477ca252488e27c1c3223096f4402e2f4c56195855e53535a17c994b9affb9": "testdata/keys/test-ec-p256.pub.pem",
	"c843cdb5f2faea3ce993f606d14b5a75f5768ad9a49105614c0ffba8b119ec7a": "testdata/keys/test-rsa2048.pem",
	"4f624fa48b5d67b4ed46cfcaf59e9ff8d83b82053b1fe35dea0e5291c9cfa821": "testdata/keys/test-rsa2048.pem",
	"b2742d82d6fb650e87aba968e85e5fe90e4c4f4204b47ce8d8bab1855e25ab3a": "testdata/keys/test-rsa2048.pub.pem",
	"b3915deb5c2d5172feb999ff340c52ce2d324094a0ef06637daacf7eee00c853": "testdata/keys/test-rsa2048.pub.pem",
	"a93ea33cd1c5ec26a61cb9506ebc363ebbe7960ba987f01f9da4bbdde1aec0ef": "testdata/registry/attestations.json",
	"012bf40592fbc497278006f5345110e48530d8aac062b71038240080943b3423": "testdata/registry/licences.json",
	"68f5c99f01a26aeadeb6966877bb89244ceeb34e23156d37c565c37faa892290": "testdata/registry/restricted_parties.json",
	"af9158a4761f1d59811f9e0e106e0fea9ae25c35b9c083e996891f01e1f46d41": "testdata/registry/veu.json",
	"7b9b88535f1e646d81f036aba725f64f3d12e4be5261a6ad8c5bdd91405a5d4c": "testdata/screening/consolidated.csv",
	"759f9537047997b4fbb2c3d83a5ded7067a939a759f6f7db6e5bbc2b02b8e5fa": "testdata/screening/local.json",
}

// maxDevDataRead bounds how much of one file the check reads: every shipped
// artefact is far smaller, so a larger file cannot be one of them by content
// (its path is still checked).
const maxDevDataRead = 8 << 20

// contentDigests returns the hex SHA-256 of b and, when b is PEM, of each
// block's DER.
func contentDigests(b []byte) []string {
	sum := sha256.Sum256(b)
	out := []string{hex.EncodeToString(sum[:])}
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return out
		}
		sum := sha256.Sum256(blk.Bytes)
		out = append(out, hex.EncodeToString(sum[:]))
	}
}

// devDataPath reports whether the path, symlinks resolved, goes through a
// directory named testdata: where Go repositories, this one included, keep
// fixtures.
func devDataPath(p string) bool {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return slices.Contains(strings.Split(filepath.ToSlash(p), "/"), "testdata")
}

// shippedAs names the shipped artefact the file at p is, or says it is
// under testdata/; "" when it is neither. A file that cannot be read is
// not judged here: loading it fails later with its own error.
func shippedAs(p string) string {
	f, err := os.Open(p)
	if err == nil {
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxDevDataRead+1))
		if err == nil && len(b) <= maxDevDataRead {
			for _, d := range contentDigests(b) {
				if name, ok := shippedDevData[d]; ok {
					return "is the shipped " + name
				}
			}
		}
	}
	if devDataPath(p) {
		return "is under a testdata directory"
	}
	return ""
}

// devDataProblems names every setting of c that trusts development or test
// data: a token key, the policy registries, a screening list, the country
// database, the S3 credentials key or the checkpoint key. Each is a yaml
// path and the file.
func (c *Config) devDataProblems() config.Problems {
	var p config.Problems
	check := func(field, path string) {
		if path == "" {
			return
		}
		if why := shippedAs(path); why != "" {
			p.Add(field, path, errors.New(why+devDataConsequence(field)))
		}
	}
	for i, ic := range c.Auth.Issuers {
		for j, entry := range ic.PublicKeys {
			path := entry
			if kid, rest, ok := strings.Cut(entry, "="); ok && !strings.ContainsAny(kid, `/\`) {
				path = rest
			}
			check(fmt.Sprintf("auth.issuers[%d].public_keys[%d]", i, j), path)
		}
	}
	if reg := c.Policy.Registry; reg != "" {
		// The registry is a directory: every file in it is policy data.
		_ = filepath.WalkDir(reg, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				check("policy.registry", path)
			}
			return nil
		})
		if devDataPath(reg) && !slices.ContainsFunc(p, func(e *config.Error) bool { return e.Field == "policy.registry" }) {
			p.Add("policy.registry", reg, errors.New("is under a testdata directory"+devDataConsequence("policy.registry")))
		}
	}
	for i, l := range c.Screening.Lists {
		check(fmt.Sprintf("screening.lists[%d].path", i), l.Path)
	}
	for i, k := range c.Catalog.ClassificationKeys {
		check(fmt.Sprintf("catalog.classification_keys[%d]", i), k)
	}
	check("location.database", c.Location.Database)
	check("s3.credentials_key", c.S3.CredentialsKey)
	check("audit.checkpoint.key", c.Audit.Checkpoint.Key)
	return p
}

// devDataConsequence says what trusting shipped data under field gives away.
func devDataConsequence(field string) string {
	switch {
	case strings.HasPrefix(field, "auth."):
		return ": its private half is public, so anyone can mint accepted tokens with any claims"
	case field == "policy.registry":
		return ": invented licences, VEUs and attestations grant closed weights"
	case strings.HasPrefix(field, "screening."):
		return ": invented parties, so real restricted parties pass screening"
	case strings.HasPrefix(field, "catalog."):
		return ": its private half is public, so anyone can sign a model's classification (turn closed weights open)"
	case field == "location.database":
		return ": a test database places addresses wrongly"
	case field == "s3.credentials_key":
		return ": anyone can forge S3 credentials"
	case field == "audit.checkpoint.key":
		return ": anyone can sign checkpoints for a forged trail"
	}
	return ""
}

// refuseUnsigned is serve's check that classifications are signed: without
// catalog.classification_keys, whoever can write to storage can turn a
// closed model open by editing its export.yaml, so only dev: true may serve
// unsigned manifests.
func (c *Config) refuseUnsigned() error {
	if c.Dev || len(c.Catalog.ClassificationKeys) > 0 {
		return nil
	}
	var p config.Problems
	p.Addf("catalog.classification_keys", "", `required: without it any storage writer can reclassify a model (set "dev: true" to trust unsigned export.yaml on a development machine)`)
	return p.Err("refusing to serve unsigned classifications")
}

// refuseDevData is serve's check: without dev: true, a configuration that
// trusts shipped development or test data is refused, naming each setting.
func (c *Config) refuseDevData() error {
	if c.Dev {
		return nil
	}
	return c.devDataProblems().Err(`refusing to serve with development or test data (set "dev: true" only on a development machine)`)
}
