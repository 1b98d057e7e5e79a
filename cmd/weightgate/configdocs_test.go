package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestConfigDocs keeps three lists of configuration keys one and the same:
// the keys config.example.yaml shows, the keys the reference table of
// docs/configuration.md lists, and the keys ParseConfig accepts (the yaml
// tags of Config). A key added to, or removed from, any one of them alone
// fails here, naming the key and the list that lacks it.
//
// A key path is written as in the reference: dotted, with [] for the entries
// of a list (auth.issuers[].jwks_url). Only leaves count: a key whose value
// is a mapping, or a list of mappings, stands for the keys below it.
func TestConfigDocs(t *testing.T) {
	example := exampleConfigKeys(t, repoPath("config.example.yaml"))
	doc := docConfigKeys(t, repoPath("docs/configuration.md"))
	parser := map[string]bool{}
	configKeysOf(reflect.TypeOf(Config{}), "", func(p string) { parser[p] = true })

	for _, k := range missing(example, parser) {
		t.Errorf("config.example.yaml shows %s, which ParseConfig does not accept", k)
	}
	for _, k := range missing(parser, example) {
		t.Errorf("ParseConfig accepts %s, which config.example.yaml does not show (as a key, or commented out)", k)
	}
	for _, k := range missing(doc, parser) {
		t.Errorf("docs/configuration.md lists %s, which ParseConfig does not accept", k)
	}
	for _, k := range missing(parser, doc) {
		t.Errorf("ParseConfig accepts %s, which docs/configuration.md does not list", k)
	}
	for _, k := range missing(example, doc) {
		t.Errorf("config.example.yaml shows %s, which docs/configuration.md does not list", k)
	}
}

// missing returns the keys of a that b lacks, sorted.
func missing(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// configKeysOf calls add with the key path of every leaf field of t, the
// way yaml.v3 names them: the yaml tag's name, else the field's name in
// lower case; "-" skipped, ",inline" flattened into its parent.
func configKeysOf(t reflect.Type, prefix string, add func(string)) {
	unmarshaler := reflect.TypeFor[yaml.Unmarshaler]()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			configKeysOf(ft, prefix, add)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		path := joinKey(prefix, name)
		isStruct := func(t reflect.Type) bool {
			return t.Kind() == reflect.Struct && t != reflect.TypeFor[time.Time]() &&
				!reflect.PointerTo(t).Implements(unmarshaler)
		}
		switch {
		case isStruct(ft):
			configKeysOf(ft, path, add)
		case (ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array) && isStruct(ft.Elem()):
			configKeysOf(ft.Elem(), path+"[]", add)
		default:
			add(path)
		}
	}
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// commentedKey matches a comment line's text that is a YAML key, possibly
// a list entry's first key: "jwks_refresh: 15m", "  - bundle: x".
var commentedKey = regexp.MustCompile(`^\s*(- )?[a-z][a-z0-9_]*:(\s|$)`)

// exampleConfigKeys returns the leaf key paths of the config file at path.
//
// The example shows some optional keys commented out (an issuer's jwks_url
// and jwks_refresh, a policy.regimes schedule), because a value there would
// change what the example configures. Those keys are part of what it
// documents, so they count too: a run of consecutive comment lines, with
// their '#' in one column, whose text is YAML keys (a "key:" at its start)
// is parsed as YAML, and it sits at the level of the real keys that begin
// in the column of its '#'. It must follow one of them in the same mapping.
func exampleConfigKeys(tb testing.TB, path string) map[string]bool {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	keys := map[string]bool{}
	type realKey struct {
		line, column int
		parent       string
	}
	var real []realKey // the keys written as keys, in the order of the file
	recording := true
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := joinKey(prefix, k.Value)
				keys[p] = true
				if recording {
					real = append(real, realKey{k.Line, k.Column, prefix})
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, prefix+"[]")
			}
		}
	}
	walk(&root, "")
	recording = false

	// The commented-out keys, block by block.
	lines := strings.Split(string(raw), "\n")
	for i := 0; i < len(lines); {
		col, text, ok := commentText(lines[i])
		if !ok || !commentedKey.MatchString(text) {
			i++
			continue
		}
		start := i + 1 // 1-based, as yaml.Node.Line
		block := []string{text}
		for i++; i < len(lines); i++ {
			c, t, ok := commentText(lines[i])
			if !ok || c != col || strings.TrimSpace(t) == "" {
				break
			}
			block = append(block, t)
		}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(dedent(block)), &n); err != nil || len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode {
			tb.Fatalf("%s:%d: commented-out keys that are not one YAML mapping (%v):\n%s", path, start, err, strings.Join(block, "\n"))
		}
		// The parent: that of the last real key before the block in the
		// column of its '#', with no key of a shallower level in between.
		parent, found := "", false
		for _, k := range real {
			if k.line >= start {
				break
			}
			switch {
			case k.column == col+1:
				parent, found = k.parent, true
			case k.column < col+1:
				found = false
			}
		}
		if !found {
			tb.Fatalf("%s:%d: commented-out keys must follow a key of the same mapping, in the column of their '#'", path, start)
		}
		walk(&n, parent)
	}
	return leafKeys(keys)
}

// commentText returns the column of a whole-line comment's '#' and its text
// without the one space after '#'.
func commentText(line string) (col int, text string, ok bool) {
	trimmed := strings.TrimLeft(line, " ")
	if !strings.HasPrefix(trimmed, "#") {
		return 0, "", false
	}
	col = len(line) - len(trimmed)
	text = strings.TrimPrefix(trimmed[1:], " ")
	return col, text, true
}

// dedent removes the indentation all lines share.
func dedent(lines []string) string {
	least := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " ")); least < 0 || n < least {
			least = n
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) >= least {
			out[i] = l[least:]
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// leafKeys drops every path that has a key below it.
func leafKeys(keys map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range keys {
		leaf := true
		for other := range keys {
			if strings.HasPrefix(other, k+".") || strings.HasPrefix(other, k+"[]") {
				leaf = false
				break
			}
		}
		if leaf {
			out[k] = true
		}
	}
	return out
}

// docKeyPath is a key path as the reference writes it.
var docKeyPath = regexp.MustCompile(`^[a-z0-9_]+(\[\])?(\.[a-z0-9_]+(\[\])?)*$`)

// docConfigKeys returns the keys in the first cell of each row of the table
// between <!-- config-keys:begin --> and <!-- config-keys:end --> in the
// Markdown file at path.
func docConfigKeys(tb testing.TB, path string) map[string]bool {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- config-keys:begin -->")
	table, _, ok2 := strings.Cut(rest, "<!-- config-keys:end -->")
	if !ok || !ok2 {
		tb.Fatalf("%s has no config-keys table", path)
	}
	code := regexp.MustCompile("`([^`]*)`")
	keys := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "|") {
			continue
		}
		first := strings.TrimSpace(cells[1])
		if first == "key" || strings.Trim(first, "-") == "" {
			continue // the header and its rule
		}
		found := code.FindAllStringSubmatch(first, -1)
		if len(found) == 0 {
			tb.Errorf("%s: a reference row names no key: %s", path, line)
		}
		for _, m := range found {
			switch k := m[1]; {
			case !docKeyPath.MatchString(k):
				tb.Errorf("%s: %q is not a key path (write it out: a.b.c, list entries as a[].b)", path, k)
			case keys[k]:
				tb.Errorf("%s: %s is listed twice", path, k)
			default:
				keys[k] = true
			}
		}
	}
	if len(keys) == 0 {
		tb.Fatalf("%s: the config-keys table lists no key", path)
	}
	return keys
}
