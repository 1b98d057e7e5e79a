package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/audit/s3anchor"
)

// anchorFlags are the flags of the audit commands that name an anchor.
type anchorFlags struct {
	URL, Endpoint, Instance string
}

func (a *anchorFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.URL, "anchor", "", "the anchor, s3://BUCKET/PREFIX (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&a.Endpoint, "anchor-endpoint", "", "the anchor's S3 endpoint: host:port (HTTPS) or an http:// or https:// URL (default: AWS S3)")
	fs.StringVar(&a.Instance, "anchor-instance", "", "the gateway instance (audit.anchor.instance) whose trail this is; default: the anchor's only instance, or for query every instance (with one FILE|DIR: the name its records and evidence carry)")
}

// anchorSpec is an S3 anchor named on the command line.
type anchorSpec struct {
	Bucket, Prefix       string
	Endpoint             string // host:port
	Secure               bool
	AccessKey, SecretKey string
}

func (a anchorFlags) spec() (anchorSpec, error) {
	u, err := url.Parse(a.URL)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return anchorSpec{}, fmt.Errorf("--anchor %q: want s3://BUCKET/PREFIX", a.URL)
	}
	s := anchorSpec{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Endpoint: "s3.amazonaws.com", Secure: true,
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
	if e := a.Endpoint; e != "" {
		switch {
		case strings.HasPrefix(e, "http://"), strings.HasPrefix(e, "https://"):
			eu, err := url.Parse(e)
			if err != nil || eu.Host == "" || (eu.Path != "" && eu.Path != "/") {
				return anchorSpec{}, fmt.Errorf("--anchor-endpoint %q: want host:port or a URL with no path", e)
			}
			s.Endpoint, s.Secure = eu.Host, eu.Scheme == "https"
		case strings.Contains(e, "/"):
			return anchorSpec{}, fmt.Errorf("--anchor-endpoint %q: want host:port or a URL with no path", e)
		default:
			s.Endpoint = e
		}
	}
	return s, nil
}

// open opens the anchor the flags name.
func (a anchorFlags) open() (audit.AnchorStore, error) {
	s, err := a.spec()
	if err != nil {
		return nil, err
	}
	return openAnchor(s)
}

// instance returns the instance whose trail local files are: the one named,
// or the anchor's only one.
func (a anchorFlags) instance(ctx context.Context, anchor audit.AnchorStore) (string, error) {
	if a.Instance != "" {
		return a.Instance, nil
	}
	insts, err := anchor.Instances(ctx)
	if err != nil {
		return "", fmt.Errorf("anchor: list instances: %w", err)
	}
	if len(insts) != 1 {
		return "", fmt.Errorf("the anchor holds %d instances (%s): name the trail's with --anchor-instance", len(insts), strings.Join(insts, ", "))
	}
	return insts[0], nil
}

// openAnchor opens the anchor the audit commands read; tests replace it.
var openAnchor = openS3Anchor

// openS3Anchor opens the S3 anchor: the bucket must have Object Lock, as
// the gateway requires of the buckets it anchors to.
func openS3Anchor(s anchorSpec) (audit.AnchorStore, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s3anchor.New(ctx, s3anchor.Config{URL: "s3://" + s.Bucket + "/" + s.Prefix, Endpoint: s.Endpoint,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey, TLS: s.Secure})
}
