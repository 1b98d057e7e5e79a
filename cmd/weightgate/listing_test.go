package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/s3test"
)

// listingModels is the size of the store the listing test pages through.
const listingModels = 10_000

// TestListingClients10k pages through a generated store of 10,000 models
// (30,000 keys; one model in four closed weights) with the stock clients,
// through `weightgate serve` on both backends: `aws s3 ls --recursive` and
// `rclone lsf -R --fast-list` as a US requester (who may see every model)
// must list every key exactly once, and the Hub JS client's listModels
// every model exactly once, anonymously only the open ones (the closed
// ones hidden, never a page of them); listFiles lists a model's own files
// once each, anonymously (an open model) and as the US requester (a
// closed one). About a minute on 2 cores, most of it
// the clients.
func TestListingClients10k(t *testing.T) {
	if testing.Short() {
		t.Skip("pages through 30,000 keys with three clients")
	}
	aws, rclone := needClient(t, "aws"), needClient(t, "rclone")
	hf := findHFClientCmd(t)
	s3cfg, bucketDir, stop := s3test.StartEmpty(t)
	defer stop()
	gen := exec.Command("go", "run", "./scripts/genstore", "-models", fmt.Sprint(listingModels), "-etag-xattr", "-out", bucketDir)
	gen.Dir = repoPath("")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("genstore: %v\n%s", err, out)
	}
	var allKeys, openModels, allModels []string
	for i := range listingModels {
		id := fmt.Sprintf("org%d/model%d", i/100, i%100)
		allModels = append(allModels, id)
		if i%4 != 3 {
			openModels = append(openModels, id)
		}
		for _, f := range []string{"config.json", "export.yaml", "model.safetensors"} {
			allKeys = append(allKeys, id+"/"+f)
		}
	}

	for _, backend := range []string{"dir", "s3"} {
		t.Run(backend, func(t *testing.T) {
			storage := "storage:\n  backend: dir\n  dir: {path: " + bucketDir + "}\n"
			if backend == "s3" {
				storage = fmt.Sprintf("storage:\n  backend: s3\n  s3: {endpoint: %s, bucket: %s, region: %s}\n", s3cfg.Endpoint, s3cfg.Bucket, s3cfg.Region)
				t.Setenv("WEIGHTGATE_S3_ACCESS_KEY", s3cfg.AccessKey)
				t.Setenv("WEIGHTGATE_S3_SECRET_KEY", s3cfg.SecretKey)
			}
			addr := freeAddr(t)
			cfg := writeConfig(t)
			b, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			i, j := strings.Index(text, "storage:"), strings.Index(text, "auth:")
			text = text[:i] + storage + text[j:] + "s3:\n  listen: " + addr + "\n  anonymous: true\n"
			if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			url, _, cancel, done := startServe(t, cfg)
			defer func() { cancel(); <-done }()
			endpoint := "http://" + addr
			us := awsAssume(t, aws, endpoint, "US")
			awsEnv := []string{"AWS_ACCESS_KEY_ID=" + us.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + us.SecretAccessKey, "AWS_SESSION_TOKEN=" + us.SessionToken}
			rcloneEnv := []string{"RCLONE_CONFIG_WG_TYPE=s3", "RCLONE_CONFIG_WG_PROVIDER=Other", "RCLONE_CONFIG_WG_ENDPOINT=" + endpoint,
				"RCLONE_CONFIG_WG_REGION=us-east-1", "RCLONE_CONFIG_WG_ACCESS_KEY_ID=" + us.AccessKeyId,
				"RCLONE_CONFIG_WG_SECRET_ACCESS_KEY=" + us.SecretAccessKey, "RCLONE_CONFIG_WG_SESSION_TOKEN=" + us.SessionToken}

			out, stderr, err := runClient(t, awsEnv, aws, "--endpoint-url", endpoint, "s3", "ls", "--recursive", "s3://models/")
			if err != nil {
				t.Fatalf("aws s3 ls --recursive: %v\n%s", err, stderr)
			}
			var keys []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if f := strings.Fields(line); len(f) == 4 {
					keys = append(keys, f[3])
				}
			}
			exactlyOnce(t, "aws s3 ls --recursive", keys, allKeys)

			out, stderr, err = runClient(t, rcloneEnv, rclone, "lsf", "-R", "--fast-list", "--files-only", "wg:models")
			if err != nil {
				t.Fatalf("rclone lsf -R --fast-list: %v\n%s", err, stderr)
			}
			exactlyOnce(t, "rclone lsf -R --fast-list", strings.Fields(out), allKeys)

			anon := hf.models(t, url, "")
			exactlyOnce(t, "listModels, anonymous", anon, openModels)
			tok := identity.HFToken(devToken(t, identity.TokenClaims{Subject: "lister", Country: "US"}))
			exactlyOnce(t, "listModels, US requester", hf.models(t, url, tok), allModels)
			// listFiles of a model in the middle of the catalog: its own
			// files, whatever lies around it.
			for _, c := range []struct {
				id, token string
			}{{allModels[listingModels/2], ""}, {allModels[listingModels/2+3], tok}} {
				exactlyOnce(t, "listFiles "+c.id, hf.files(t, url, c.token, c.id), []string{"config.json", "export.yaml", "model.safetensors"})
			}
		})
	}
}

// exactlyOnce fails t unless got holds every string of want exactly once,
// and nothing else.
func exactlyOnce(t *testing.T, what string, got, want []string) {
	t.Helper()
	seen := make(map[string]int, len(got))
	for _, k := range got {
		seen[k]++
	}
	missing, extra, twice := 0, 0, 0
	for _, k := range want {
		switch seen[k] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
		delete(seen, k)
	}
	extra = len(seen)
	if missing+extra+twice > 0 || len(got) != len(want) {
		t.Errorf("%s: %d entries for %d; %d missing, %d listed more than once, %d not in the store", what, len(got), len(want), missing, twice, extra)
	}
}

// hfModels runs scripts/hfclient's listModels.
type hfModels struct{ node, script string }

func findHFClientCmd(t *testing.T) hfModels {
	t.Helper()
	node := needClient(t, "node")
	dir, err := filepath.Abs(repoPath("scripts/hfclient"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@huggingface", "hub", "package.json")); err != nil {
		needClient(t, "hfclient-node-modules-not-installed")
	}
	return hfModels{node: node, script: filepath.Join(dir, "client.mjs")}
}

// files lists every file of model id (listFiles, recursive) as the token's
// bearer ("" anonymous) sees it.
func (h hfModels) files(t *testing.T, url, token, id string) []string {
	t.Helper()
	args := []string{h.script, "--endpoint", url, "--repo", id, "--list"}
	if token != "" {
		args = append(args, "--token", token)
	}
	out, stderr, err := runClient(t, nil, h.node, args...)
	if err != nil {
		t.Fatalf("hfclient --list %s: %v\n%s\n%s", id, err, stderr, out)
	}
	var paths []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v struct {
			Entry struct{ Type, Path string }
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.Entry.Path == "" {
			t.Fatalf("hfclient --list: line %q: %v", line, err)
		}
		if v.Entry.Type == "file" {
			paths = append(paths, v.Entry.Path)
		}
	}
	return paths
}

// models lists every model the gateway at url shows the token's bearer
// ("" anonymous), page after page, as listModels follows the Link header.
func (h hfModels) models(t *testing.T, url, token string) []string {
	t.Helper()
	args := []string{h.script, "--endpoint", url, "--models"}
	if token != "" {
		args = append(args, "--token", token)
	}
	start := time.Now()
	out, stderr, err := runClient(t, nil, h.node, args...)
	if err != nil {
		t.Fatalf("hfclient --models: %v\n%s\n%s", err, stderr, out)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v struct{ Model string }
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.Model == "" {
			t.Fatalf("hfclient --models: line %q: %v", line, err)
		}
		ids = append(ids, v.Model)
	}
	t.Logf("listModels: %d models in %v", len(ids), time.Since(start).Round(time.Millisecond))
	return ids
}
