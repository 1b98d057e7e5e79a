package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// gateway is one running weightgate.
type gateway struct {
	name     string
	proc     *proc
	url      string // http://127.0.0.1:port
	admin    string // the admin listener's (/metrics): http://127.0.0.1:port
	config   string // path of the configuration it runs with
	rendered []byte // that configuration, as written
}

// gatewaySpec says what differs between the gateways the benchmark runs;
// everything else is config.example.yaml as shipped, so that what is
// measured is the production-like setup it documents (screening lists,
// registry, audit group commit with fsync, metrics, the S3 API listener).
type gatewaySpec struct {
	name    string // directory and log name
	backend string // s3 | dir
}

// startGateway writes the configuration for spec and starts weightgate on
// free ports; it is ready when /readyz answers 200.
func startGateway(ctx context.Context, ps *procs, t *tools, work, repo string, s3 *s3Server, spec gatewaySpec) (*gateway, error) {
	dir := filepath.Join(work, spec.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g := &gateway{name: spec.name, config: filepath.Join(dir, "config.yaml")}
	env := []string{
		// The S3 backend's credentials come from the environment only.
		"WEIGHTGATE_S3_ACCESS_KEY=" + s3.access, "WEIGHTGATE_S3_SECRET_KEY=" + s3.secret,
	}
	var adminport int
	p, port, err := startOnFreePort(ctx, spec.name, func(port int) (*proc, error) {
		s3port, err := freePort()
		if err != nil {
			return nil, err
		}
		if adminport, err = freePort(); err != nil {
			return nil, err
		}
		cfg, err := gatewayConfig(repo, map[string]string{
			"listen":              hostPort(port),
			"storage.backend":     spec.backend,
			"storage.dir.path":    s3.bucketDir(),
			"storage.s3.endpoint": s3.addr,
			"storage.s3.bucket":   bucket,
			"storage.s3.prefix":   "",
			"audit.dir":           filepath.Join(dir, "audit"),
			"s3.listen":           hostPort(s3port),
			"admin.listen":        hostPort(adminport),
			// One token sends every request of a case: the per-requester
			// limit would measure itself, not the gateway.
			"rate_limit.per_second": "0",
		})
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(g.config, cfg, 0o644); err != nil {
			return nil, err
		}
		g.rendered = cfg
		p, err := ps.start(spec.name, filepath.Join(dir, "weightgate.log"), env, t.weightgate, "serve", "--config", g.config)
		if err != nil {
			return nil, err
		}
		return p, ps.readyOrInUse(ctx, p, "http://"+hostPort(port)+"/readyz", 60*time.Second)
	})
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", spec.name, err)
	}
	g.proc, g.url, g.admin = p, "http://"+hostPort(port), "http://"+hostPort(adminport)
	return g, nil
}

// resolveURL is the Hub download URL of a file of the bench model.
func (g *gateway) resolveURL(f benchFile) string {
	return g.url + "/" + benchModel + "/resolve/main/" + f.Path()
}

// pathKeys are the settings of the configuration that hold paths, which
// weightgate resolves against the configuration file's directory: the
// example's relative ones (testdata/...) must be made absolute against the
// repository, since the generated file lives in the work directory. This
// mirrors cmd/weightgate's resolvePaths.
var pathKeys = []string{
	"storage.dir.path", "policy.registry", "policy.extensions[]", "audit.dir",
	"screening.lists[].path", "location.database", "s3.credentials_key",
	"audit.checkpoint.key", "auth.issuers[].public_keys[]",
}

// gatewayConfig returns config.example.yaml with set applied (dotted keys
// to scalar values) and every relative path made absolute against repo.
// Comments are dropped: the result goes into the report.
func gatewayConfig(repo string, set map[string]string) ([]byte, error) {
	src, err := os.ReadFile(filepath.Join(repo, "config.example.yaml"))
	if err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("gateway config: config.example.yaml: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("gateway config: config.example.yaml is not a mapping")
	}
	root := doc.Content[0]
	for _, key := range pathKeys {
		for _, n := range nodesAt(root, strings.Split(key, ".")) {
			if n.Kind != yaml.ScalarNode || n.Value == "" {
				continue
			}
			// A public key entry may be "kid=path".
			prefix, p := "", n.Value
			if kid, rest, ok := strings.Cut(p, "="); ok && !strings.ContainsAny(kid, `/\`) && strings.HasSuffix(key, "public_keys[]") {
				prefix, p = kid+"=", rest
			}
			if !filepath.IsAbs(p) {
				n.Value = prefix + filepath.Join(repo, p)
			}
		}
	}
	for key, v := range set {
		setScalar(root, strings.Split(key, "."), v)
	}
	stripComments(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	return buf.Bytes(), nil
}

// nodesAt returns the nodes at a dotted path; "name[]" steps into every
// element of the sequence under name.
func nodesAt(n *yaml.Node, path []string) []*yaml.Node {
	if len(path) == 0 {
		return []*yaml.Node{n}
	}
	name, seq := strings.CutSuffix(path[0], "[]")
	v := mapValue(n, name)
	if v == nil {
		return nil
	}
	if !seq {
		return nodesAt(v, path[1:])
	}
	if v.Kind != yaml.SequenceNode {
		return nil
	}
	var out []*yaml.Node
	for _, el := range v.Content {
		out = append(out, nodesAt(el, path[1:])...)
	}
	return out
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// setScalar sets the value at a dotted path, creating mappings on the way.
// Values that read as YAML numbers or booleans keep their type; anything
// else is a string.
func setScalar(n *yaml.Node, path []string, value string) {
	for i, key := range path {
		v := mapValue(n, key)
		if v == nil {
			v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
		}
		if i == len(path)-1 {
			*v = yaml.Node{Kind: yaml.ScalarNode, Tag: scalarTag(value), Value: value}
			if value == "" {
				v.Style = yaml.DoubleQuotedStyle
			}
			return
		}
		n = v
	}
}

func scalarTag(v string) string {
	if v == "true" || v == "false" {
		return "!!bool"
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return "!!int"
	}
	return "!!str"
}

func stripComments(n *yaml.Node) {
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for _, c := range n.Content {
		stripComments(c)
	}
}

// mintToken asks weightgate for a development token (the committed
// development key, which config.example.yaml trusts) for a requester the
// default policy allows closed weights: in the US, for an entity
// headquartered there (License Exception AIA).
func mintToken(ctx context.Context, t *tools, repo string) (string, error) {
	cmd := exec.CommandContext(ctx, t.weightgate, "token",
		"--key", filepath.Join(repo, "testdata", "keys", "dev-ed25519.pem"),
		"--sub", "bench-requester", "--country", "US",
		"--entity", "Bench Lab", "--entity-id", "bench-lab", "--entity-hq", "US", "--parent-hq", "US",
		"--ttl", "12h")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("weightgate token: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
